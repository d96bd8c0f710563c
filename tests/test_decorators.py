"""@background: an ordinary function that can also run in the background."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Iterator

import pytest

import tasq
from tasq import BackgroundCall, RetryTask, TaskStatus, TasQ, background, use_engine
from tasq.context import register_resolver
from tests.support import Make, Recorder

pytestmark = pytest.mark.timeout(20)



@background
def add(a: int, b: int = 0) -> int:
    """Add two numbers."""
    return a + b


def test_signature_and_docstring_survive() -> None:
    assert add.__doc__ == "Add two numbers."
    assert add.__name__ == "add"
    assert str(inspect.signature(add)) == "(a: 'int', b: 'int' = 0) -> 'int'"
    assert add(2, b=3) == 5  # an ordinary synchronous call
    assert repr(add) == "<background tests.test_decorators.add>"


def test_enqueue_runs_in_the_background_and_returns_the_id(make_engine: Make) -> None:
    engine = make_engine(results=10)
    engine.start()
    with use_engine(engine):
        task_id = add.enqueue(2, b=40)
    assert type(task_id) is int
    assert engine.join(5)
    assert engine.result(task_id).return_value == 42  # type: ignore[union-attr]


def test_task_object_for_an_explicit_engine(make_engine: Make) -> None:
    engine = make_engine(results=10)
    engine.start()
    call = add.task(1, 2)
    assert isinstance(call, BackgroundCall) and isinstance(call, tasq.Task)
    assert repr(call) == "<BackgroundCall tests.test_decorators.add(1, 2)>"
    task_id = engine.enqueue(call)
    assert engine.join(5)
    assert engine.result(task_id).return_value == 3  # type: ignore[union-attr]


def test_per_task_options_override_the_engines(make_engine: Make) -> None:
    calls: list[int] = []
    engine = make_engine(max_retry=1, results=10)
    engine.start()

    @engine.background(max_retry=4)
    def flaky() -> str:
        calls.append(1)
        if len(calls) < 4:
            raise RetryTask
        return "finally"

    task_id = flaky.enqueue()
    assert engine.join(5)
    result = engine.result(task_id)
    assert result is not None and (result.status, result.attempts) == (TaskStatus.DONE, 4)


def test_priority_option_orders_tasks(make_engine: Make) -> None:
    order: list[str] = []
    started, release = threading.Event(), threading.Event()
    engine = make_engine(workers=1)
    engine.start()
    engine.enqueue(lambda: (started.set(), release.wait(5)))
    assert started.wait(5)

    @engine.background(priority=5)
    def urgent() -> None:
        order.append("urgent")

    @engine.background
    def routine() -> None:
        order.append("routine")

    routine.enqueue()
    urgent.enqueue()
    routine.enqueue_with(priority=10)
    release.set()
    assert engine.join(5)
    assert order == ["routine", "urgent", "routine"]


def test_enqueue_with_delay(make_engine: Make) -> None:
    engine = make_engine(results=10)
    engine.start()
    task_id = add.enqueue_with((1,), {"b": 1}, delay=0.05)
    assert engine.result(task_id) is None  # the default engine is not this one
    with use_engine(engine):
        task_id = add.enqueue_with((1,), {"b": 1}, delay=0.05)
    result = engine.result(task_id)
    assert result is not None and result.status is TaskStatus.PENDING
    assert engine.join(5)
    assert engine.result(task_id).return_value == 2  # type: ignore[union-attr]
    tasq.default().close()


def test_async_functions(make_engine: Make) -> None:
    @background
    async def fetch(n: int) -> int:
        await asyncio.sleep(0)
        return n * 2

    assert asyncio.run(fetch(2)) == 4  # still an ordinary coroutine function
    engine = make_engine(results=10)
    engine.start()
    task_id = engine.enqueue(fetch.task(21))
    assert engine.join(5)
    assert engine.result(task_id).return_value == 42  # type: ignore[union-attr]

    async def from_async_code() -> int:
        with use_engine(engine):
            return await fetch.aenqueue(1)

    second = asyncio.run(from_async_code())
    assert engine.join(5)
    assert engine.result(second).return_value == 2  # type: ignore[union-attr]


def test_methods(make_engine: Make) -> None:
    engine = make_engine(results=10)
    engine.start()

    class Mailer:
        def __init__(self, sender: str) -> None:
            self.sender = sender

        @engine.background
        def send(self, to: str) -> str:
            return f"{self.sender} -> {to}"

    mailer = Mailer("noreply@example.com")
    assert mailer.send("a@example.com") == "noreply@example.com -> a@example.com"
    task_id = mailer.send.enqueue("b@example.com")
    assert engine.join(5)
    assert engine.result(task_id).return_value == "noreply@example.com -> b@example.com"  # type: ignore[union-attr]


@pytest.fixture
def resolver() -> Iterator[list[TasQ | None]]:
    """A framework's resolver whose answer the test sets."""
    answer: list[TasQ | None] = [None]

    def resolve() -> TasQ | None:
        return answer[0]

    register_resolver(resolve)
    yield answer
    from tasq import context

    context._resolvers.remove(resolve)


def test_engine_resolution_order(make_engine: Make, resolver: list[TasQ | None]) -> None:
    explicit, in_block, from_app = make_engine(name="explicit"), make_engine(name="block"), make_engine(name="app")

    @background(tasq=explicit)
    def pinned() -> None:
        pass

    @background
    def free() -> None:
        pass

    def stats_of(engine: TasQ) -> int:
        return engine.stats().enqueued

    resolver[0] = from_app
    free.enqueue()
    assert stats_of(from_app) == 1  # the framework's engine
    with use_engine(in_block):
        free.enqueue()
        pinned.enqueue()
    assert stats_of(in_block) == 1 and stats_of(explicit) == 1  # the block's, then the explicit one
    resolver[0] = None
    before = tasq.default().stats().enqueued
    free.enqueue()
    assert tasq.default().stats().enqueued == before + 1  # else the process default
    assert tasq.default().join(5)
    tasq.default().close()


def test_tasks_enqueue_on_their_own_engine(make_engine: Make) -> None:
    rec = Recorder()
    engine = make_engine(on_done=rec.on_done)
    engine.start()

    @background
    def child() -> None:
        pass

    def parent() -> None:
        child.enqueue()  # no engine named: the one running this task

    engine.enqueue(parent)
    assert rec.wait(2)
    assert engine.stats().enqueued == 2


def test_default_engine_is_lazy_and_replaced_once_closed() -> None:
    first = tasq.default()
    assert first is tasq.default() and first.autostart
    first.close()
    second = tasq.default()
    assert second is not first and not second.closed
    second.close()


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"max_retry": 0}, ValueError),
        ({"max_retry": "3"}, TypeError),
        ({"retry_delay": -1}, ValueError),
        ({"priority": 500}, ValueError),
        ({"priority": 1.0}, TypeError),
        ({"name": ""}, TypeError),
        ({"tasq": "engine"}, TypeError),
    ],
)
def test_bad_options_fail_at_decoration(options: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        background(**options)  # type: ignore[call-overload]


def test_generator_functions_are_refused() -> None:
    def numbers() -> Iterator[int]:
        yield 1

    with pytest.raises(TypeError, match="generator"):
        background(numbers)


def test_fallback_resolvers_are_asked_after_the_others(make_engine: Make) -> None:
    specific, fallback = make_engine(name="specific"), make_engine(name="fallback")
    answers: dict[str, TasQ | None] = {"specific": None}

    def guess() -> TasQ | None:
        return fallback

    def exact() -> TasQ | None:
        return answers["specific"]

    from tasq import context

    register_resolver(guess, fallback=True)
    register_resolver(exact)  # registered later, asked first
    try:
        assert context.resolve_engine() is fallback
        answers["specific"] = specific
        assert context.resolve_engine() is specific
    finally:
        context._resolvers.remove(guess)
        context._fallbacks.remove(guess)
        context._resolvers.remove(exact)


def test_an_explicit_priority_zero_wins_over_the_decorators(make_engine: Make) -> None:
    order: list[str] = []
    started, release = threading.Event(), threading.Event()
    engine = make_engine(workers=1)
    engine.start()
    engine.enqueue(lambda: (started.set(), release.wait(5)))
    assert started.wait(5)

    @engine.background(priority=5)
    def decorated(label: str) -> None:
        order.append(label)

    @engine.background(priority=1)
    def middle() -> None:
        order.append("middle")

    decorated.enqueue_with(("explicit 0 by enqueue_with",), priority=0)
    engine.enqueue(decorated.task("explicit 0 by enqueue"), priority=0)
    middle.enqueue()
    decorated.enqueue("not given: the decorator's 5")
    release.set()
    assert engine.join(5)
    assert order == ["not given: the decorator's 5", "middle", "explicit 0 by enqueue_with", "explicit 0 by enqueue"]
