"""cancel() on the thread engine: pending, delayed, waiting for a retry, prioritized; the rest False."""

from __future__ import annotations

import threading

import pytest

from tasq import RetryTask, TaskCancelled, TaskStatus
from tests.support import Gate, Make, Recorder

pytestmark = pytest.mark.timeout(30)


def test_a_pending_task_never_runs_and_is_reported_cancelled_once(make_engine: Make) -> None:
    rec, gate, ran = Recorder(), Gate(), threading.Event()
    engine = make_engine(workers=1, results=10, on_done=rec.on_done, on_failed=rec.on_failed)
    engine.start()
    blocker = engine.submit(gate.task)
    assert gate.wait_started(1)
    pending = engine.submit(ran.set)
    after = engine.submit(lambda: None)
    assert engine.cancel(pending) is True
    assert engine.cancel(pending) is False
    assert engine.cancel(blocker) is False  # running
    gate.open()
    assert engine.join(10)
    assert not ran.is_set()
    assert isinstance(rec.error(pending), TaskCancelled)
    rec.assert_once_each([blocker, pending, after])
    result = engine.result(pending)
    assert result is not None and result.status is TaskStatus.FAILED and result.attempts == 0
    assert engine.stats().cancelled == 1
    assert engine.cancel(after) is False  # finished


def test_delayed_prioritized_and_retry_waiting_tasks_are_cancelled_once(make_engine: Make) -> None:
    rec, gate = Recorder(), Gate()
    attempts: list[int] = []
    tried = threading.Event()

    def retry_later() -> None:
        attempts.append(1)
        tried.set()
        raise RetryTask("later", delay=30)

    engine = make_engine(workers=1, max_retry=3, on_done=rec.on_done, on_failed=rec.on_failed)
    engine.start()
    retrying = engine.submit(retry_later)
    assert tried.wait(5)  # then it waits for its second attempt, 30 s away
    blocker = engine.submit(gate.task)
    assert gate.wait_started(1)
    delayed = engine.enqueue(lambda: None, delay=30)
    high = engine.enqueue(lambda: None, priority=5)
    plain = engine.submit(lambda: None)
    for task_id in (delayed, high, retrying):
        assert engine.cancel(task_id) is True, task_id
    gate.open()
    assert engine.join(10)
    rec.assert_once_each([retrying, blocker, delayed, high, plain])
    for task_id in (delayed, high, retrying):
        assert isinstance(rec.error(task_id), TaskCancelled)
    assert len(attempts) == 1
    assert rec.done[plain] == 1


def test_log_line_says_cancelled(make_engine: Make, caplog: pytest.LogCaptureFixture) -> None:
    engine = make_engine(workers=1)
    engine.start()
    task_id = engine.enqueue(lambda: None, delay=30)
    with caplog.at_level("INFO", logger="tasq"):
        assert engine.cancel(task_id)
    assert any("cancelled" in record.getMessage() and record.task_id == task_id for record in caplog.records)


def test_unknown_and_bad_ids(make_engine: Make) -> None:
    engine = make_engine()
    engine.start()
    assert engine.cancel(1) is False  # not issued yet
    assert engine.cancel(10**12) is False
    for bad, error in (("12", TypeError), (True, TypeError), (1.0, TypeError), (0, ValueError), (-1, ValueError)):
        with pytest.raises(error, match="task_id"):
            engine.cancel(bad)  # type: ignore[arg-type]


def test_an_eager_task_has_finished_inside_enqueue(make_engine: Make) -> None:
    engine = make_engine(eager=True)
    task_id = engine.submit(lambda: None)
    assert engine.cancel(task_id) is False


def test_cancel_of_a_queued_task_keeps_the_others_in_order(make_engine: Make) -> None:
    gate, order = Gate(), []
    engine = make_engine(workers=1)
    engine.start()
    engine.submit(gate.task)
    assert gate.wait_started(1)
    ids = [engine.submit(order.append, i) for i in range(10)]
    assert engine.cancel(ids[4])
    gate.open()
    assert engine.join(10)
    assert order == [0, 1, 2, 3, 5, 6, 7, 8, 9]
