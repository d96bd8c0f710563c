"""Promises 13, 16, 17 (docs/reliability.md): no leaks, retries on schedule, bad input refused whole."""

from __future__ import annotations

import gc
import itertools
import logging
import threading
import time
import tracemalloc
import weakref
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from tasq import RetryTask, TaskCancelled, backoff
from tests.conftest import scaled
from tests.support import Make, Recorder

pytestmark = pytest.mark.timeout(60)



@pytest.fixture
def quiet_tasq_logger() -> Iterator[None]:
    # Log records keep their exception (exc_info) alive in pytest's capture: silence them.
    logger = logging.getLogger("tasq")
    logger.disabled = True
    yield
    logger.disabled = False


@pytest.mark.usefixtures("quiet_tasq_logger")
def test_failed_tasks_leave_no_reference_to_their_exceptions(make_engine: Make) -> None:
    """13. 10,000 failing tasks: no live reference to any of their exceptions, gc disabled."""
    refs: list[weakref.ref[BaseException]] = []
    lock = threading.Lock()
    failed = threading.Semaphore(0)

    class PaymentDeclined(Exception):
        pass

    def declined() -> PaymentDeclined:
        error = PaymentDeclined("declined")
        with lock:
            refs.append(weakref.ref(error))
        return error

    def fail() -> None:
        # Raised straight from a call: a local naming the error in this frame would make a
        # cycle (error -> traceback -> frame -> error) of the test's own making.
        raise declined()

    engine = make_engine(workers=4, on_failed=lambda task_id, error: failed.release())
    engine.start()
    gc.disable()
    try:
        for _ in range(10_000):
            engine.enqueue(fail)
        assert engine.join(30)
        engine.close()
        alive = [ref for ref in refs if ref() is not None]
    finally:
        gc.enable()
    assert len(refs) == 10_000
    assert not alive, f"{len(alive)} exceptions still referenced"


@pytest.mark.usefixtures("quiet_tasq_logger")
@pytest.mark.parametrize("options", [{}, {"results": 10}, {"queue_size": 5_000}])
@pytest.mark.parametrize("last", ["retry", "raise", "return"])
def test_retried_tasks_leave_no_reference_cycle_to_their_exceptions(
    make_engine: Make, options: dict[str, int], last: str
) -> None:
    """13. 1,000 tasks retried in place: once they are reported, none of their exceptions is
    alive with gc disabled (no exception -> traceback -> frame -> exception cycle is left for
    the collector), and the failure on_failed gets still carries its traceback."""
    refs: list[weakref.ref[BaseException]] = []
    lock = threading.Lock()
    traced: list[bool] = []

    def kept(error: BaseException) -> BaseException:
        with lock:
            refs.append(weakref.ref(error))
        return error

    class Broken(ValueError):  # a class of its own: the built-in one takes no weak reference
        pass

    class Flaky:
        __slots__ = ("calls",)

        def __init__(self) -> None:
            self.calls = 0

        def do(self) -> None:
            self.calls += 1
            if self.calls < 3 or last == "retry":
                raise kept(RetryTask("again"))
            if last == "raise":
                raise kept(Broken("broken"))

    def on_failed(task_id: int, error: BaseException) -> None:
        raised = error.__cause__ if last == "retry" else error
        traced.append(raised is not None and raised.__traceback__ is not None)

    engine = make_engine(workers=4, max_retry=3, on_failed=on_failed, **options)
    engine.start()
    gc.collect()
    gc.disable()
    try:
        for _ in range(1_000):
            engine.enqueue(Flaky())
        assert engine.join(30)
        engine.close()
        on_purpose = {id(error) for error in _kept_by_results(engine)}
        alive = [ref for ref in refs if ref() is not None and id(ref()) not in on_purpose]
    finally:
        gc.enable()
    assert len(refs) == (2_000 if last == "return" else 3_000)
    assert not alive, f"{len(alive)} exceptions still referenced"
    assert traced == ([] if last == "return" else [True] * 1_000)


def _kept_by_results(engine: object) -> list[BaseException]:
    """The errors a result store keeps on purpose (``result(task_id).error``)."""
    store = getattr(engine, "_results", None)
    if store is None:
        return []
    kept: list[BaseException] = []
    for record in list(store._records.values()):
        if isinstance(record, tuple) and isinstance(record[3], BaseException):
            kept += [record[3], *([record[3].__cause__] if record[3].__cause__ is not None else [])]
    return kept


def test_memory_stays_flat_over_many_tasks(make_engine: Make) -> None:
    """13. Memory grows < 10 MB over 100,000 tasks."""
    total = scaled(100_000)
    engine = make_engine(on_done=lambda task_id: None)
    engine.start()
    for _ in range(1000):
        engine.enqueue(lambda: None)
    assert engine.join(10)
    gc.collect()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        for chunk in range(10):
            for _ in range(total // 10):
                engine.enqueue(lambda: None)
            assert engine.join(30), f"chunk {chunk} did not finish"
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
    assert grown < 10 * 1024 * 1024, f"grew {grown / 1e6:.1f} MB"
    assert engine.stats().done == total + 1000


@pytest.mark.usefixtures("quiet_tasq_logger")
def test_result_store_stays_at_its_bound(make_engine: Make) -> None:
    """13. The result store keeps at most `results` finished tasks."""
    engine = make_engine(results=100, max_retry=2)
    engine.start()
    kinds = [lambda: "value", lambda: 1 / 0, lambda: (_ for _ in ()).throw(RetryTask())]
    ids = [engine.enqueue(kinds[n % 3]) for n in range(scaled(10_000))]
    assert engine.join(30)
    kept = [task_id for task_id in ids if engine.result(task_id) is not None]
    assert 0 < len(kept) <= 100
    store = engine._results
    assert store is not None and len(store) <= 100
    assert store.pending() == 0  # nothing live is left behind


def test_retries_land_on_their_backoff_schedule(make_engine: Make) -> None:
    """16. With backoff, attempts land within +-20 ms of their schedule."""
    times: list[float] = []
    delay = backoff(0.05, factor=2, jitter=False)

    def flaky() -> None:
        times.append(time.monotonic())
        if len(times) < 5:
            raise RetryTask

    engine = make_engine(max_retry=5, retry_delay=delay)
    engine.start()
    engine.enqueue(flaky)
    assert engine.join(10)
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    expected = [delay(attempt) for attempt in range(1, 5)]
    assert expected == [0.05, 0.1, 0.2, 0.4]
    assert all(abs(gap - want) <= 0.020 for gap, want in zip(gaps, expected, strict=True)), gaps


def test_a_retry_due_after_close_cancel_pending_is_cancelled(make_engine: Make) -> None:
    """16. A retry that falls due after close(cancel_pending=True) is reported TaskCancelled."""
    rec = Recorder()
    attempted = threading.Event()

    def retry_soon() -> None:
        attempted.set()
        raise RetryTask(delay=0.2)

    engine = make_engine(on_done=rec.on_done, on_failed=rec.on_failed)
    engine.start()
    task_id = engine.enqueue(retry_soon)
    assert attempted.wait(5)
    engine.close(cancel_pending=True)
    assert isinstance(rec.error(task_id), TaskCancelled)
    time.sleep(0.3)  # past the moment the retry was due: it must not run or report again
    rec.assert_once_each([task_id])


def a_generator() -> Iterator[int]:
    yield 1


async def an_async_generator() -> object:
    yield 1


class Plain:
    pass


class GeneratorTask:
    def do(self) -> Iterator[int]:
        yield 1


class CallableGenerator:
    def __call__(self) -> Iterator[int]:
        yield 1


naive = datetime(2030, 1, 1)

BAD_INPUT = [
    pytest.param({"task": None}, TypeError, id="None"),
    pytest.param({"task": 42}, TypeError, id="not callable"),
    pytest.param({"task": Plain()}, TypeError, id="object without do()"),
    pytest.param({"task": a_generator}, TypeError, id="generator function"),
    pytest.param({"task": an_async_generator}, TypeError, id="async generator function"),
    pytest.param({"task": GeneratorTask()}, TypeError, id="generator do()"),
    pytest.param({"task": CallableGenerator()}, TypeError, id="generator __call__"),
    pytest.param({"delay": -1}, ValueError, id="negative delay"),
    pytest.param({"delay": timedelta(seconds=-1)}, ValueError, id="negative timedelta"),
    pytest.param({"delay": float("nan")}, ValueError, id="nan delay"),
    pytest.param({"delay": "5"}, TypeError, id="str delay"),
    pytest.param({"delay": naive}, ValueError, id="naive datetime"),
    pytest.param({"priority": 101}, ValueError, id="priority too high"),
    pytest.param({"priority": -101}, ValueError, id="priority too low"),
    pytest.param({"priority": 1.5}, TypeError, id="float priority"),
    pytest.param({"priority": 0.0}, TypeError, id="zero float priority"),
    pytest.param({"priority": True}, TypeError, id="bool priority"),
    pytest.param({"priority": "1"}, TypeError, id="str priority"),
    pytest.param({"timeout": -1}, ValueError, id="negative timeout"),
]


@pytest.mark.parametrize(("arguments", "error"), BAD_INPUT)
@pytest.mark.parametrize("started", [False, True], ids=["new", "started"])
def test_bad_input_is_refused_at_enqueue(
    make_engine: Make, arguments: dict[str, object], error: type[Exception], started: bool
) -> None:
    """17. Each a clear TypeError/ValueError at enqueue; nothing accepted."""
    rec = Recorder()
    engine = make_engine(on_done=rec.on_done, on_failed=rec.on_failed)
    if started:
        engine.start()
    arguments = dict(arguments)  # the parameters are shared between the two runs
    task = arguments.pop("task", lambda: None)
    with pytest.raises(error) as raised:
        engine.enqueue(task, **arguments)  # type: ignore[arg-type]
    assert str(raised.value)  # says what was wrong
    assert engine.stats().enqueued == 0
    assert engine.enqueue(lambda: None) == 1  # the refused task took no id
    engine.close()
    assert rec.finished == 1  # only the good task was ever reported


def test_bad_input_to_submit_and_aenqueue(make_engine: Make) -> None:
    engine = make_engine()
    with pytest.raises(TypeError):
        engine.submit(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        engine.submit(a_generator)
    import asyncio

    with pytest.raises(ValueError):
        asyncio.run(engine.aenqueue(lambda: None, priority=1000))
    assert engine.enqueue(lambda: None) == 1


def test_a_coroutine_object_is_refused_with_a_hint(make_engine: Make) -> None:
    async def job() -> None:
        pass

    engine = make_engine()
    coro = job()
    with pytest.raises(TypeError, match="coroutine function"):
        engine.enqueue(coro)
    coro.close()
    assert engine.stats().enqueued == 0
