"""Hooks.before_enqueue and tasq.current_task(): a task's name and headers, where it runs."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import TypeVar

import pytest

import tasq
from tasq import Hooks, RetryTask, RunningTask, TasQ, background, current_task

pytestmark = pytest.mark.timeout(30)

T = TypeVar("T")


class Recorder(Hooks):
    """Adds a header at enqueue and notes current_task() in every hook that runs an attempt."""

    def __init__(self) -> None:
        self.enqueued: list[tuple[int, str]] = []
        self.seen: list[tuple[str, RunningTask | None]] = []
        self.lock = threading.Lock()

    def note(self, where: str) -> None:
        with self.lock:
            self.seen.append((where, current_task()))

    def before_enqueue(self, task_id: int, name: str, headers: dict[str, str]) -> None:
        self.enqueued.append((task_id, name))
        headers["origin"] = f"request-{task_id}"

    def before_task(self, task_id: int, attempt: int) -> None:
        self.note("before_task")

    def around_task(self, task_id: int, call: Callable[[], T]) -> T:
        self.note("around_task")
        return call()

    def after_retry(self, task_id: int, error: RetryTask) -> None:
        self.note("after_retry")

    def after_done(self, task_id: int, return_value: object) -> None:
        self.note("after_done")

    def after_failed(self, task_id: int, error: BaseException) -> None:
        self.note("after_failed")


inside: list[RunningTask | None] = []


def job() -> None:
    inside.append(current_task())


async def async_job() -> None:
    await asyncio.sleep(0)
    inside.append(current_task())


@background(name="billing.charge")
def charge() -> None:
    inside.append(current_task())


def test_headers_and_the_running_task_reach_every_hook_and_the_task(make_engine: Callable[..., TasQ]) -> None:
    inside.clear()
    recorder = Recorder()
    engine = make_engine(workers=2)
    engine.add_hooks(recorder)
    engine.start()
    first = engine.enqueue(job)
    second = engine.enqueue(async_job)
    assert engine.join(10)
    assert recorder.enqueued == [(first, f"{__name__}.job"), (second, f"{__name__}.async_job")]
    expected = {
        first: RunningTask(first, f"{__name__}.job", 1, {"origin": f"request-{first}"}),
        second: RunningTask(second, f"{__name__}.async_job", 1, {"origin": f"request-{second}"}),
    }
    assert sorted(inside, key=lambda task: task.id if task else 0) == [expected[first], expected[second]]
    for where, task in recorder.seen:
        assert task is not None, f"current_task() was None in {where}"
        assert task == expected[task.id], where
    places = sorted(where for where, task in recorder.seen if task and task.id == second)
    assert places == ["after_done", "around_task", "before_task"], "the async task's after_done runs on the loop"
    assert current_task() is None


def test_a_retry_and_a_failure_see_the_attempt_that_ended(make_engine: Callable[..., TasQ]) -> None:
    recorder = Recorder()
    engine = make_engine(workers=1, max_retry=2)
    engine.add_hooks(recorder)
    engine.start()

    def never() -> None:
        raise RetryTask("not yet")

    task_id = engine.enqueue(never)
    assert engine.join(10)
    attempts = [(where, task.attempt) for where, task in recorder.seen if task is not None]
    assert attempts == [
        ("before_task", 1), ("around_task", 1), ("after_retry", 1),
        ("before_task", 2), ("around_task", 2), ("after_failed", 2),
    ]  # fmt: skip
    assert all(task is not None and task.id == task_id for _, task in recorder.seen)


def test_delayed_prioritized_and_eager_tasks_carry_their_headers(make_engine: Callable[..., TasQ]) -> None:
    inside.clear()
    engine = make_engine(workers=1)
    engine.add_hooks(Recorder())
    engine.start()
    delayed = engine.enqueue(job, delay=0.01)
    urgent = engine.enqueue(job, priority=5)
    named = engine.enqueue(charge.task())  # @background(name=...) goes by its given name
    with tasq.use_engine(engine):
        called = charge.enqueue()
    assert engine.join(10)
    found = {task.id: task for task in inside if task is not None}
    assert set(found) == {delayed, urgent, named, called}
    assert found[named].name == found[called].name == "billing.charge"
    assert all(task.headers == {"origin": f"request-{task.id}"} for task in found.values())
    inside.clear()
    eager = make_engine(eager=True)
    eager.add_hooks(Recorder())
    inline = eager.enqueue(job)
    assert inside == [RunningTask(inline, f"{__name__}.job", 1, {"origin": f"request-{inline}"})]


def test_an_engine_without_hooks_runs_tasks_with_no_current_task(make_engine: Callable[..., TasQ]) -> None:
    inside.clear()
    engine = make_engine(workers=1)
    engine.start()
    engine.enqueue(job)
    assert engine.join(10)
    assert inside == [None]


def test_a_header_that_is_not_str_to_str_is_dropped_and_logged(
    make_engine: Callable[..., TasQ], caplog: pytest.LogCaptureFixture
) -> None:
    inside.clear()

    class Bad(Hooks):
        def before_enqueue(self, task_id: int, name: str, headers: dict[str, str]) -> None:
            headers["good"] = "yes"
            headers["count"] = 3  # type: ignore[assignment]

        def before_task(self, task_id: int, attempt: int) -> None:
            pass

    engine = make_engine(workers=1)
    engine.add_hooks(Bad())
    engine.start()
    with caplog.at_level(logging.ERROR, logger="tasq"):
        task_id = engine.enqueue(job)
        assert engine.join(10)
    assert inside == [RunningTask(task_id, f"{__name__}.job", 1, {"good": "yes"})]
    assert any("'count' dropped" in record.getMessage() and record.task_id == task_id for record in caplog.records)


def test_the_broker_engine_carries_headers_in_the_message() -> None:
    from tests.backends import tasks

    seen: list[RunningTask | None] = []

    class Watch(Recorder):
        def after_done(self, task_id: int, return_value: object) -> None:
            seen.append(current_task())

    engine = tasq.TasQ(backend="dramatiq", broker_url="stub://", name="headers-stub")
    engine.add_hooks(Watch())
    try:
        engine.start()
        task_id = engine.enqueue(tasks.add.task(1, 2))
        assert engine.join(10)
    finally:
        engine.close(timeout=10)
    assert seen == [RunningTask(task_id, "tests.backends.tasks.add", 1, {"origin": f"request-{task_id}"})]
