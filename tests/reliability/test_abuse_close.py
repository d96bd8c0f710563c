"""Promise 20 (docs/reliability.md): close() and shutdown() under a large backlog, said honestly."""

from __future__ import annotations

import logging
import time

import pytest

from tasq import TaskCancelled
from tests.conftest import scaled
from tests.support import Gate, Make, Recorder

pytestmark = pytest.mark.timeout(60)


@pytest.mark.stress
def test_a_bounded_close_takes_the_backlog_away_at_once_and_logs_one_line(
    make_engine: Make, caplog: pytest.LogCaptureFixture
) -> None:
    """20. 100,000 pending, close(timeout=0.2): bounded, nothing starts after the deadline, one WARNING."""
    pending = scaled(100_000)
    recorder = Recorder()
    starts: list[float] = []

    def task() -> None:
        starts.append(time.monotonic())
        time.sleep(0.001)

    engine = make_engine(workers=4, on_done=recorder.on_done, on_failed=recorder.on_failed)
    engine.start()
    ids = [engine.enqueue(task) for _ in range(pending)]
    caplog.set_level(logging.WARNING, logger="tasq")
    began = time.monotonic()
    deadline = began + 0.2
    engine.close(timeout=0.2)
    took = time.monotonic() - began
    assert took < 0.2 + 2.0 * pending / 100_000  # each of the cancelled is still reported to on_failed
    late = [at for at in starts if at > deadline + 0.005]
    assert len(late) <= 4, f"{len(late)} tasks started after the deadline"
    recorder.assert_once_each(ids)
    cancelled = [task_id for task_id, errors in recorder.failed.items() if type(errors[0]) is TaskCancelled]
    assert len(cancelled) + sum(recorder.done.values()) == pending
    warnings = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(warnings) == 1, [record.getMessage()[:80] for record in warnings[:5]]
    assert f"cancelled {len(cancelled)} task(s) that had not started" in warnings[0].getMessage()
    assert warnings[0].task_id is None  # type: ignore[attr-defined]
    assert sorted(warnings[0].task_ids) == sorted(cancelled)  # type: ignore[attr-defined]


def test_shutdown_says_a_running_task_was_given_up_not_that_it_was_stopped(
    make_engine: Make, caplog: pytest.LogCaptureFixture
) -> None:
    """20. shutdown() with a task running: reported once, and the line says it was given up, may finish."""
    recorder = Recorder()
    gate = Gate()
    engine = make_engine(workers=1, on_done=recorder.on_done, on_failed=recorder.on_failed)
    engine.start()
    task_id = engine.enqueue(gate.task)
    assert gate.wait_started(1)
    caplog.set_level(logging.WARNING, logger="tasq")
    engine.shutdown("deploy 42", timeout=0.05)
    gate.open()
    deadline = time.monotonic() + 5
    while engine.stats().workers and time.monotonic() < deadline:
        time.sleep(0.005)
    recorder.assert_once_each([task_id])
    lines = [record.getMessage() for record in caplog.records if record.getMessage().startswith(f"task {task_id} ")]
    assert lines == [
        f"task {task_id} cancelled: given up while still running (deploy 42): "
        "it may yet finish, but its outcome is not reported"
    ]
