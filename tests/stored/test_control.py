"""cancel, retry, time_limit and lost runs with a store, from this process and from a second
engine on the same file; a killed process is a real child process and a real SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tasq import TaskCancelled, TaskStatus, TimeLimitExceeded, WorkerLost
from tests.conftest import scaled
from tests.stored import tasks
from tests.stored.conftest import StoreMake, rows, states
from tests.support import Recorder

pytestmark = pytest.mark.timeout(30)

ROOT = Path(__file__).resolve().parents[2]


def wait_until(condition, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_cancel_of_a_pending_a_delayed_and_a_retry_waiting_task(make: StoreMake, tmp_path: Path, store: str) -> None:
    log = str(tmp_path / "runs.jsonl")
    rec = Recorder()
    engine = make(workers=2, results=10, on_done=rec.on_done, on_failed=rec.on_failed)
    pending = engine.enqueue(tasks.record.task(log, "pending"))  # not started yet: it waits in the file
    assert engine.cancel(pending) is True
    assert engine.cancel(pending) is False  # once
    engine.start()
    delayed = engine.enqueue(tasks.record.task(log, "delayed"), delay=30)
    retrying = engine.enqueue(tasks.retry_later.task(log, 30))
    assert wait_until(lambda: states(store).get(retrying) == "pending" and tasks.read_lines(log))
    other = make(results=10)  # a second engine on the file cancels as well as this one
    assert other.cancel(delayed) is True
    assert engine.cancel(retrying) is True
    assert engine.cancel(delayed) is False and other.cancel(retrying) is False
    assert rec.wait(2, timeout=5)
    assert engine.join(5)
    # Reported once, by the engine that cancelled; the one this engine cancelled was reported here.
    assert isinstance(rec.error(pending), TaskCancelled) and isinstance(rec.error(retrying), TaskCancelled)
    assert delayed not in rec.failed  # the other engine reported it, to its own callbacks
    assert [line["tag"] for line in tasks.read_lines(log)] == ["retry_later"]  # one run, before the cancel
    assert {states(store)[i] for i in (pending, delayed, retrying)} == {"cancelled"}
    result = other.result(retrying)
    assert result is not None and result.status is TaskStatus.FAILED and isinstance(result.error, TaskCancelled)
    assert engine.stats().cancelled == 3


def test_cancel_of_a_running_finished_or_unknown_task_is_false(make: StoreMake) -> None:
    rec = Recorder()
    engine = make(on_done=rec.on_done, on_failed=rec.on_failed)
    engine.start()
    running = engine.enqueue(tasks.wait_gate.task("running"))
    assert tasks.started.setdefault("running", threading.Event()).wait(5)
    finished = engine.enqueue(tasks.add.task(1, 1))
    assert rec.wait(1)
    assert engine.cancel(running) is False
    assert engine.cancel(finished) is False
    assert engine.cancel(finished + 10**6) is False
    tasks.gates.setdefault("running", threading.Event()).set()
    assert engine.join(5)
    rec.assert_once_each([running, finished])
    for bad, error in (("12", TypeError), (True, TypeError), (0, ValueError), (-3, ValueError)):
        with pytest.raises(error, match="task_id"):
            engine.cancel(bad)  # type: ignore[arg-type]


@pytest.mark.stress
@pytest.mark.timeout(120)
def test_cancel_racing_the_start_of_the_same_task_gives_one_outcome(make: StoreMake, tmp_path: Path) -> None:
    """cancel() the moment a task is stored for idle workers: each id ran or was cancelled,
    never both, never neither, and cancel()'s answer says which."""
    total = scaled(2_000)
    log = str(tmp_path / "runs.jsonl")
    rec = Recorder()
    engine = make(workers=4, on_done=rec.on_done, on_failed=rec.on_failed)
    engine.start()
    answers: dict[int, bool] = {}
    for n in range(total // 2):  # one at a time, to idle workers
        task_id = engine.enqueue(tasks.record.task(log, n))
        answers[task_id] = engine.cancel(task_id)
    batch = [engine.enqueue(tasks.record.task(log, n)) for n in range(total // 2, total)]
    canceller = threading.Thread(target=lambda: answers.update((i, engine.cancel(i)) for i in batch))
    canceller.start()  # from the front of a queue the workers drain
    canceller.join(60)
    assert engine.join(60)
    rec.assert_once_each(list(answers))
    cancelled = {task_id for task_id, yes in answers.items() if yes}
    assert cancelled == set(rec.failed)
    assert all(isinstance(rec.error(task_id), TaskCancelled) for task_id in cancelled)
    ran = [line["tag"] for line in tasks.read_lines(log)]
    assert len(ran) == len(set(ran)) == total - len(cancelled)
    assert set(rec.done) == set(answers) - cancelled
    stats = engine.stats()
    assert (stats.cancelled, stats.done, stats.pending, stats.running) == (len(cancelled), len(rec.done), 0, 0)


def test_retry_stores_a_failed_or_cancelled_task_again_as_a_new_id(make: StoreMake, store: str) -> None:
    rec = Recorder()
    engine = make(results=20, on_done=rec.on_done, on_failed=rec.on_failed)
    failed = engine.enqueue(tasks.fail.task("ValueError"))
    cancelled = engine.enqueue(tasks.add.task(2, 3), delay=60)
    assert engine.cancel(cancelled)
    engine.start()
    done = engine.enqueue(tasks.add.task(2, 2))
    assert engine.join(10)
    other = make(results=20)  # retry from another engine on the file: it stores, any process runs it
    again = other.retry(failed)
    revived = engine.retry(cancelled)
    assert again > done and revived > again
    assert engine.join(10)
    assert wait_until(lambda: states(store).get(again) == "failed")
    revived_result = engine.result(revived)
    assert revived_result is not None and revived_result.return_value == 5  # the same arguments
    kept = engine.result(failed)
    assert kept is not None and kept.status is TaskStatus.FAILED  # the old record stays
    (row,) = rows(store, "id = ?", (again,))
    assert row["retry_of"] == failed and row["name"] == "tests.stored.tasks.fail"
    with pytest.raises(ValueError, match="succeeded"):
        engine.retry(done)
    with pytest.raises(ValueError, match="not known"):
        engine.retry(revived + 1000)
    waiting = engine.enqueue(tasks.add.task(1, 1), delay=60)
    with pytest.raises(ValueError, match="pending"):
        engine.retry(waiting)


def test_time_limit_fails_a_busy_task_and_a_hanging_coroutine_and_the_workers_go_on(make: StoreMake) -> None:
    rec = Recorder()
    engine = make(workers=2, results=50, on_done=rec.on_done, on_failed=rec.on_failed)
    engine.start()
    started = time.monotonic()
    limited = [engine.enqueue(tasks.spin.task(30.0)), engine.enqueue(tasks.hang.task(30.0))]
    assert rec.wait(2, timeout=10)
    assert time.monotonic() - started < 5
    for task_id in limited:
        assert isinstance(rec.error(task_id), TimeLimitExceeded)
        result = engine.result(task_id)
        assert result is not None and result.attempts == 1  # not retried
    after = [engine.enqueue(tasks.add.task(i, 1)) for i in range(50)]
    assert engine.join(10)
    assert [engine.result(task_id).return_value for task_id in after] == [i + 1 for i in range(50)]  # type: ignore[union-attr]


def test_a_run_lost_with_its_process_runs_again_unless_rerun_lost_is_false(
    make: StoreMake, tmp_path: Path, store: str
) -> None:
    """A child process is SIGKILLed mid-run: after its lease its running task runs again here
    (the lost run counted), a ``rerun_lost=False`` one fails with WorkerLost without running,
    and what was pending or delayed there runs here once."""
    runs = str(tmp_path / "runs.jsonl")
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.stored.child", "hold", store, runs, "1.0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        ids = json.loads(child.stdout.readline())
        assert wait_until(lambda: len(tasks.read_lines(runs)) == 2)
        os.kill(child.pid, signal.SIGKILL)
        killed_at = time.time()
    finally:
        child.kill()
        child.wait(10)
        if child.stdout is not None:
            child.stdout.close()
    rec = Recorder()
    engine = make(workers=2, max_retry=3, results=10, store_lease=1.0, on_done=rec.on_done, on_failed=rec.on_failed)
    engine.start()
    assert rec.wait(4, timeout=15)
    rec.assert_once_each(list(ids.values()))
    assert isinstance(rec.error(ids["once"]), WorkerLost)
    lines = tasks.read_lines(runs)
    by_tag: dict[str, list[dict[str, object]]] = {}
    for line in lines:
        by_tag.setdefault(str(line["tag"]), []).append(line)
    assert len(by_tag["once_only"]) == 1  # never ran again
    first, second = by_tag["block_forever"]
    assert first["pid"] == child.pid and second["pid"] == os.getpid()
    assert float(second["t"]) >= killed_at + 0.3  # type: ignore[arg-type]  # not before the lease lapsed
    assert [line["pid"] for line in by_tag["delayed"] + by_tag["pending"]] == [os.getpid()] * 2
    again = engine.result(ids["again"])
    assert again is not None and again.status is TaskStatus.DONE and again.attempts == 2
    assert engine.stats().running == 0
