"""Closing, joining, eager mode, hooks, fork() and BaseException with a store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest

from tasq import TaskCancelled, TaskStatus, TasQClosed
from tests.backends.recording import EventLog, Events
from tests.stored import tasks
from tests.stored.conftest import StoreMake, rows, states
from tests.support import Recorder

pytestmark = pytest.mark.timeout(30)

ROOT = Path(__file__).resolve().parents[2]


def test_close_runs_what_is_due_and_leaves_delayed_tasks_in_the_store_unreported(
    make: StoreMake, tmp_path: Path, store: str
) -> None:
    log = str(tmp_path / "runs.jsonl")
    rec = Recorder()
    engine = make(workers=1, on_done=rec.on_done, on_failed=rec.on_failed)
    engine.start()
    busy = engine.enqueue(tasks.wait_gate.task("busy"))
    assert tasks.started.setdefault("busy", threading.Event()).wait(5)
    due = [engine.enqueue(tasks.record.task(log, n)) for n in range(5)]
    delayed = engine.enqueue(tasks.record.task(log, "delayed"), delay=30)
    threading.Timer(0.2, tasks.gates.setdefault("busy", threading.Event()).set).start()
    assert engine.close() == []  # wait=True, no timeout: the due ones run first
    rec.assert_once_each([busy, *due])
    assert [line["tag"] for line in tasks.read_lines(log)] == [0, 1, 2, 3, 4]
    assert states(store)[delayed] == "pending"  # kept for the next start, not cancelled
    with pytest.raises(TasQClosed):
        engine.enqueue(tasks.add.task(1, 1))
    assert engine.close() == []  # again: nothing


def test_close_without_waiting_gives_back_the_claimed_tasks_and_the_next_engine_runs_them(
    make: StoreMake, tmp_path: Path, store: str
) -> None:
    log = str(tmp_path / "runs.jsonl")
    rec = Recorder()
    engine = make(workers=1, on_done=rec.on_done, on_failed=rec.on_failed)
    engine.start()
    busy = engine.enqueue(tasks.wait_gate.task("slow"))
    assert tasks.started.setdefault("slow", threading.Event()).wait(5)
    waiting = [engine.enqueue(tasks.record.task(log, n)) for n in range(6)]
    assert engine.close(wait=False) == [busy]
    tasks.gates.setdefault("slow", threading.Event()).set()
    assert rec.wait(1, timeout=5)  # the running one finishes and is reported
    assert engine.join(0.2) is False  # the others were given back: pending, and nobody runs them
    assert set(rec.done) == {busy} and not rec.failed
    assert {states(store)[task_id] for task_id in waiting} == {"pending"}
    assert {row["attempts"] for row in rows(store) if row["id"] in waiting} == {0}  # no attempt spent
    after = Recorder()
    restarted = make(workers=2, on_done=after.on_done, on_failed=after.on_failed)
    restarted.start()
    assert after.wait(6)
    restarted.close()
    after.assert_once_each(waiting)
    assert sorted(line["tag"] for line in tasks.read_lines(log)) == list(range(6))  # type: ignore[type-var]


def test_close_cancel_pending_cancels_due_and_delayed_tasks_and_reports_each_once(
    make: StoreMake, tmp_path: Path, store: str
) -> None:
    log = str(tmp_path / "runs.jsonl")
    rec = Recorder()
    engine = make(workers=1, on_done=rec.on_done, on_failed=rec.on_failed)
    engine.start()
    busy = engine.enqueue(tasks.wait_gate.task("held"))
    assert tasks.started.setdefault("held", threading.Event()).wait(5)
    left = [engine.enqueue(tasks.record.task(log, n)) for n in range(4)]
    left.append(engine.enqueue(tasks.record.task(log, "later"), delay=30))
    threading.Timer(0.2, tasks.gates.setdefault("held", threading.Event()).set).start()
    assert engine.close(cancel_pending=True) == []
    rec.assert_once_each([busy, *left])
    assert all(isinstance(rec.error(task_id), TaskCancelled) for task_id in left)
    assert not tasks.read_lines(log)
    assert {states(store)[task_id] for task_id in left} == {"cancelled"}


def test_join_waits_for_tasks_another_engine_on_the_file_runs(make: StoreMake, store: str) -> None:
    producer = make(results=100)  # never started: it only stores
    ids = [producer.enqueue(tasks.add.task(i, 1)) for i in range(20)]
    assert producer.join(timeout=0.2) is False  # nobody runs them yet
    rec = Recorder()
    worker = make(workers=4, results=100, on_done=rec.on_done, on_failed=rec.on_failed)
    worker.start()
    assert producer.join(timeout=10) is True
    assert worker.join(0) is True  # it accepted nothing itself
    # The rows ended when their outcomes were committed; the worker reports right after:
    # once its threads have stopped, every report is made.
    assert worker.close(timeout=10) == []
    rec.assert_once_each(ids)  # reported where they ran
    assert [producer.result(task_id).return_value for task_id in ids] == [i + 1 for i in range(20)]  # type: ignore[union-attr]


def test_eager_mode_runs_in_the_callers_thread_and_still_refuses_what_cannot_be_stored(make: StoreMake) -> None:
    rec = Recorder()
    engine = make(eager=True, results=10, on_done=rec.on_done, on_failed=rec.on_failed)
    caller = threading.get_ident()
    seen: list[int] = []
    task_id = engine.enqueue(tasks.add.task(2, 3))
    assert rec.done[task_id] == 1  # done before enqueue returned
    result = engine.result(task_id)
    assert result is not None and (result.status, result.return_value) == (TaskStatus.DONE, 5)
    retried = engine.enqueue(tasks.retry_until.task(f"eager-{caller}", 2))
    assert engine.result(retried).attempts == 2  # type: ignore[union-attr]
    with pytest.raises(TypeError):
        engine.submit(lambda: seen.append(threading.get_ident()))
    with pytest.raises(TypeError, match="JSON"):
        engine.enqueue(tasks.record.task("x", object()))
    assert not seen


def test_hooks_and_callbacks_fire_once_per_event(make: StoreMake, tmp_path: Path) -> None:
    events = Events(tmp_path / "events.jsonl")
    log = EventLog(events.path)
    engine = make(workers=4, max_retry=3, on_done=log.on_done, on_failed=log.on_failed)
    engine.add_hooks(log)
    engine.start()
    ids = [engine.enqueue(tasks.add.task(i, i)) for i in range(20)]
    ids.append(engine.enqueue(tasks.fail.task("ValueError")))
    retried = engine.enqueue(tasks.retry_until.task(f"hooks-{tmp_path.name}", 3))
    ids.append(retried)
    ids += engine.enqueue_many([tasks.add.task(1, i) for i in range(5)])
    assert engine.join(10)
    assert events.wait(ids)
    events.assert_once_each(ids)
    assert Counter(e["id"] for e in events.all() if e["event"] == "enqueued") == Counter(ids)
    assert [e["attempt"] for e in events.of(retried, "start")] == [1, 2, 3]
    assert len(events.of(retried, "retry")) == 2
    assert {e["pid"] for e in events.all()} == {os.getpid()}


def test_a_keyboard_interrupt_or_system_exit_inside_a_task_fails_that_task_only(make: StoreMake) -> None:
    rec = Recorder()
    engine = make(workers=2, results=50, on_done=rec.on_done, on_failed=rec.on_failed)
    engine.start()
    ids = [engine.enqueue(tasks.fail.task(kind)) for kind in ("KeyboardInterrupt", "SystemExit")]
    ids += [engine.enqueue(tasks.add.task(i, 1)) for i in range(20)]
    assert engine.join(10)
    rec.assert_once_each(ids)
    assert [type(rec.error(task_id)).__name__ for task_id in ids[:2]] == ["KeyboardInterrupt", "SystemExit"]
    assert set(rec.done) == set(ids[2:])
    assert engine.stats().workers == 2 and engine.stats().failed == 2


FORK_SCRIPT = """
import faulthandler, json, os, sys, time
faulthandler.dump_traceback_later(15, exit=True)  # a hang shows where (in the parent)
from tasq import TasQ
from tests.stored import tasks

store, runs = sys.argv[1], sys.argv[2]
engine = TasQ(store=store, workers=2, store_poll=0.05)
engine.start()
parent_ids = [engine.enqueue(tasks.record.task(runs, f"parent-{n}")) for n in range(20)]
read_end, write_end = os.pipe()
pid = os.fork()
if pid == 0:
    report = {"running": engine.running_ids(), "joined_at_once": engine.join(0)}
    child_id = engine.enqueue(tasks.record.task(runs, "child"))
    report["joined"] = engine.join(10)
    report["child_id"] = child_id
    engine.close()
    os.write(write_end, json.dumps(report).encode())
    os._exit(0)
os.close(write_end)
child = json.loads(os.read(read_end, 65536))
os.waitpid(pid, 0)
joined = engine.join(10)
engine.close()
print(json.dumps({"child": child, "parent_ids": parent_ids, "joined": joined}))
"""


def test_a_forked_child_starts_empty_and_every_task_runs_once(store: str, tmp_path: Path) -> None:
    """After fork() the child's engine holds nothing of the parent's (no connection, no run,
    nothing to join); it runs its own tasks; the store's tasks each run once, in either process."""
    runs = str(tmp_path / "runs.jsonl")
    process = subprocess.run(
        [sys.executable, "-c", FORK_SCRIPT, store, runs],
        capture_output=True, text=True, timeout=25, cwd=ROOT,
        env={**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning"},
    )  # fmt: skip
    assert process.returncode == 0, process.stderr
    report = json.loads(process.stdout.splitlines()[-1])
    child = report["child"]
    assert child["running"] == [] and child["joined_at_once"] is True and child["joined"] is True
    assert report["joined"] is True
    tags = Counter(str(line["tag"]) for line in tasks.read_lines(runs))
    assert tags == Counter([f"parent-{n}" for n in range(20)] + ["child"])
    assert set(states(store).values()) == {"done"} and len(states(store)) == 21
