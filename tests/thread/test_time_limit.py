"""time_limit on the thread engine: plain and async tasks, per task and engine-wide."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from tasq import RetryTask, TasQ, TimeLimitExceeded, background
from tests.support import Make, Recorder

pytestmark = pytest.mark.timeout(30)


def _spin(seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pass
    return "finished"


def test_a_task_within_its_limit_is_untouched_and_no_thread_without_limits(make_engine: Make) -> None:
    engine = make_engine(workers=1, time_limit=5)
    rec = Recorder()
    engine.on_done = rec.on_done
    engine.start()
    ids = [engine.submit(_spin, 0.01) for _ in range(5)]
    assert engine.join(5)
    rec.assert_once_each(ids)
    plain = make_engine(workers=1)
    plain.start()
    plain.submit(lambda: None)
    assert plain.join(5)
    names = [t.name for t in threading.enumerate()]
    assert names.count("tasq-default-time-limit") <= 1  # the limited engine's, never the plain one's


def test_a_per_task_limit_fails_the_task_and_is_not_retried(make_engine: Make) -> None:
    rec = Recorder()
    attempts: list[int] = []
    engine = make_engine(workers=1, max_retry=5, on_failed=rec.on_failed, on_done=rec.on_done)

    @background(time_limit=0.2, tasq=engine)
    def slow() -> None:
        attempts.append(1)
        _spin(10)

    engine.start()
    task_id = slow.enqueue()
    assert rec.wait(1, timeout=5)
    error = rec.error(task_id)
    assert isinstance(error, TimeLimitExceeded) and "0.2s" in str(error)
    assert attempts == [1]
    after = engine.submit(lambda: 7)
    assert rec.wait(2, timeout=5) and rec.done[after] == 1


def test_each_attempt_of_a_retrying_task_has_its_own_limit(make_engine: Make) -> None:
    rec = Recorder()
    tries: list[int] = []
    engine = make_engine(workers=1, max_retry=3, time_limit=0.4, on_done=rec.on_done, on_failed=rec.on_failed)

    def twice() -> int:
        tries.append(1)
        _spin(0.15)  # within its limit each time; the sum is past it
        if len(tries) < 3:
            raise RetryTask("again")
        return len(tries)

    engine.start()
    task_id = engine.submit(twice)
    assert rec.wait(1, timeout=5)
    assert rec.done[task_id] == 1 and len(tries) == 3


def test_an_async_task_is_cancelled_at_its_limit(make_engine: Make) -> None:
    rec = Recorder()
    engine = make_engine(workers=1, time_limit=0.2, on_failed=rec.on_failed, on_done=rec.on_done)

    async def hangs() -> None:
        await asyncio.sleep(30)

    async def quick() -> int:
        await asyncio.sleep(0)
        return 1

    engine.start()
    started = time.monotonic()
    task_id = engine.enqueue(hangs)
    assert rec.wait(1, timeout=5)
    assert time.monotonic() - started < 0.2 + 0.5
    assert isinstance(rec.error(task_id), TimeLimitExceeded)
    ok = engine.enqueue(quick)
    assert rec.wait(2, timeout=5) and rec.done[ok] == 1


def test_a_task_that_catches_its_own_timeout_error_is_not_mistaken(make_engine: Make) -> None:
    rec = Recorder()
    engine = make_engine(workers=1, time_limit=5, on_failed=rec.on_failed)

    async def times_out_itself() -> None:
        async with asyncio.timeout(0.01):
            await asyncio.sleep(1)

    engine.start()
    task_id = engine.enqueue(times_out_itself)
    assert rec.wait(1, timeout=5)
    assert type(rec.error(task_id)) is TimeoutError


def test_a_limit_that_ran_out_as_the_task_returned_never_lands_later(make_engine: Make) -> None:
    """Tasks that end right at their limit: no exception may land in the worker after one."""
    rec = Recorder()
    engine = make_engine(workers=2, time_limit=0.02, on_done=rec.on_done, on_failed=rec.on_failed)
    engine.start()
    ids = [engine.submit(_spin, 0.02) for _ in range(100)]
    ids += [engine.submit(lambda: None) for _ in range(200)]
    assert rec.wait(len(ids), timeout=20)
    rec.assert_once_each(ids)
    for task_id, errors in rec.failed.items():
        assert all(isinstance(error, TimeLimitExceeded) for error in errors), task_id
    assert ids[-200:] == [i for i in ids[-200:] if rec.done[i] == 1]  # no stray exception hit them
    assert engine.stats().workers == 2


def test_time_limit_is_checked_where_it_is_given() -> None:
    for bad, error in (("1", TypeError), (0, ValueError), (-1, ValueError), (float("inf"), ValueError)):
        with pytest.raises(error, match="time_limit"):
            TasQ(time_limit=bad)  # type: ignore[arg-type]
        with pytest.raises(error, match="time_limit"):
            background(time_limit=bad)  # type: ignore[arg-type]
