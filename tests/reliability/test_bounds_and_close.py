"""Promises 5-7 (docs/reliability.md): a bounded queue, and close with and without a bound."""

from __future__ import annotations

import threading
import time

import pytest

from tasq import QueueFull, RetryTask, TaskCancelled, TasQ, TasQClosed
from tasq.hooks import given_up
from tests.support import Gate, Make, Recorder

pytestmark = pytest.mark.timeout(30)



def full_engine(make_engine: Make, gate: Gate, on_full: str) -> TasQ:
    """queue_size=10 with every worker blocked and ten tasks pending."""
    engine = make_engine(workers=2, queue_size=10, on_full=on_full)
    engine.start()
    engine.enqueue(gate.task)
    engine.enqueue(gate.task)
    assert gate.wait_started(2)
    for _ in range(10):
        engine.enqueue(lambda: None)
    return engine


def test_full_queue_raises_at_once(make_engine: Make) -> None:
    """5. on_full="raise": QueueFull in < 10 ms, nothing accepted."""
    gate = Gate()
    engine = full_engine(make_engine, gate, "raise")
    before = engine.stats().enqueued
    started = time.perf_counter()
    with pytest.raises(QueueFull):
        engine.enqueue(lambda: None)
    assert time.perf_counter() - started < 0.010
    assert engine.stats().enqueued == before
    gate.open()


def test_full_queue_blocks_until_the_timeout(make_engine: Make) -> None:
    """5. on_full="block", timeout=0.1: QueueFull after 0.1 +- 0.05 s."""
    gate = Gate()
    engine = full_engine(make_engine, gate, "block")
    started = time.perf_counter()
    with pytest.raises(QueueFull):
        engine.enqueue(lambda: None, timeout=0.1)
    assert 0.05 <= time.perf_counter() - started <= 0.15
    gate.open()


def test_blocked_producer_resumes_when_a_slot_frees(make_engine: Make) -> None:
    """5. A blocked producer resumes within 50 ms of a slot freeing."""
    slot_freed = threading.Event()
    engine = make_engine(workers=1, queue_size=1)
    engine.start()
    release = threading.Event()
    first_running = threading.Event()

    def first() -> None:
        first_running.set()
        release.wait(10)

    engine.enqueue(first)
    assert first_running.wait(5)
    engine.enqueue(lambda: slot_freed.set())  # takes the only slot; starts once `first` ends
    resumed_at: list[float] = []

    def producer() -> None:
        engine.enqueue(lambda: None)
        resumed_at.append(time.perf_counter())

    blocked = threading.Thread(target=producer)
    blocked.start()
    time.sleep(0.05)
    assert not resumed_at  # still blocked: the queue is full
    freed_at = time.perf_counter()
    release.set()  # the worker takes the pending task: its slot frees
    blocked.join(5)
    assert resumed_at and resumed_at[0] - freed_at < 0.050
    assert engine.join(5)


def test_close_runs_pending_after_running(make_engine: Make) -> None:
    """6. 50 running + 1,000 pending: close() -> 1,050 done."""
    gate, rec = Gate(), Recorder()
    engine = make_engine(workers=50, on_done=rec.on_done, on_failed=rec.on_failed)
    engine.start()
    ids = [engine.enqueue(gate.task) for _ in range(50)]
    assert gate.wait_started(50)
    ids += [engine.enqueue(lambda: None) for _ in range(1000)]
    threading.Timer(0.1, gate.open).start()
    assert engine.close() == []
    assert sum(rec.done.values()) == 1050
    rec.assert_once_each(ids)
    with pytest.raises(TasQClosed):
        engine.enqueue(lambda: None)


def test_close_cancel_pending(make_engine: Make) -> None:
    """6. close(cancel_pending=True): 50 done, 1,000 TaskCancelled within 0.3 s."""
    gate, rec = Gate(), Recorder()
    engine = make_engine(workers=50, on_done=rec.on_done, on_failed=rec.on_failed)
    engine.start()
    running = [engine.enqueue(gate.task) for _ in range(50)]
    assert gate.wait_started(50)
    pending = [engine.enqueue(lambda: None) for _ in range(1000)]
    started = time.perf_counter()
    closer = threading.Thread(target=engine.close, kwargs={"cancel_pending": True})
    closer.start()
    assert rec.wait(1000, timeout=5)
    assert time.perf_counter() - started < 0.3
    assert all(isinstance(rec.error(task_id), TaskCancelled) for task_id in pending)
    gate.open()
    closer.join(5)
    assert not closer.is_alive()
    assert all(rec.done[task_id] == 1 for task_id in running)
    rec.assert_once_each(running + pending)
    assert engine.stats().cancelled == 1000
    with pytest.raises(TasQClosed):
        engine.enqueue(lambda: None)


def test_close_with_timeout_returns_in_time_and_names_the_running(make_engine: Make) -> None:
    """7. Tasks sleeping 10 s, close(timeout=0.5): back in <= 0.6 s, naming the running ids."""
    sleeping = threading.Event()  # set at the end so that the threads do not outlive the test
    rec = Recorder()
    gate = Gate()
    engine = make_engine(workers=3, on_done=rec.on_done, on_failed=rec.on_failed)
    engine.start()

    def sleep_ten_seconds() -> None:
        gate.task_started()
        sleeping.wait(10)

    running = [engine.enqueue(sleep_ten_seconds) for _ in range(3)]
    assert gate.wait_started(3)
    queued = [engine.enqueue(lambda: None) for _ in range(5)]
    started = time.perf_counter()
    still_running = engine.close(timeout=0.5)
    assert time.perf_counter() - started <= 0.6
    assert still_running == running
    assert all(isinstance(rec.error(task_id), TaskCancelled) for task_id in queued)
    sleeping.set()
    assert rec.wait(8)
    rec.assert_once_each(running + queued)


def test_delayed_tasks_and_retries_not_due_are_cancelled_at_close(make_engine: Make) -> None:
    rec = Recorder()
    attempted = threading.Event()

    def retry_later() -> None:
        attempted.set()
        raise RetryTask(delay=60)

    engine = make_engine(on_done=rec.on_done, on_failed=rec.on_failed)
    engine.start()
    later = engine.enqueue(lambda: None, delay=60)
    retrying = engine.enqueue(retry_later)
    assert attempted.wait(5)
    started = time.perf_counter()
    engine.close()
    assert time.perf_counter() - started < 1  # they hold nothing up
    assert isinstance(rec.error(later), TaskCancelled)
    assert isinstance(rec.error(retrying), TaskCancelled)
    rec.assert_once_each([later, retrying])


def test_a_retry_without_delay_during_a_graceful_close_still_runs(make_engine: Make) -> None:
    gate, rec = Gate(), Recorder()
    attempts: list[int] = []

    def retry_once() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            gate.task()
            raise RetryTask

    engine = make_engine(on_done=rec.on_done, on_failed=rec.on_failed)
    engine.start()
    task_id = engine.enqueue(retry_once)
    assert gate.wait_started(1)
    closer = threading.Thread(target=engine.close)
    closer.start()
    deadline = time.monotonic() + 5
    while not engine.closed and time.monotonic() < deadline:  # close() has no event to wait on
        time.sleep(0.001)
    assert engine.closed
    gate.open()
    closer.join(5)
    assert len(attempts) == 2
    assert rec.done[task_id] == 1
    rec.assert_once_each([task_id])


def test_shutdown_reports_running_tasks_once_even_when_called_again(make_engine: Make) -> None:
    release, rec = threading.Event(), Recorder()
    gate = Gate()
    engine = make_engine(workers=2, shutdown_timeout=0.2, on_done=rec.on_done, on_failed=rec.on_failed)
    engine.start()

    def slow() -> None:
        gate.task_started()
        release.wait(10)

    ids = [engine.enqueue(slow) for _ in range(2)]
    assert gate.wait_started(2)
    started = time.perf_counter()
    engine.shutdown("the app stopped")
    engine.shutdown("the app stopped")
    engine._close_at_exit()  # what the interpreter's exit would call next
    assert time.perf_counter() - started < 1
    release.set()  # the cut-short tasks end now: their outcome must not be reported again
    deadline = time.monotonic() + 5
    while engine.stats().workers and time.monotonic() < deadline:
        time.sleep(0.005)
    assert engine.stats().workers == 0
    rec.assert_once_each(ids)
    assert all(str(rec.error(task_id)) == given_up("the app stopped") for task_id in ids)
