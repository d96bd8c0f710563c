"""Promise 20 (docs/reliability.md): close() and shutdown() under a large backlog, said honestly."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import tasq
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

    first_cancel: list[float] = []

    def on_failed(task_id: int, error: BaseException) -> None:
        if not first_cancel:
            first_cancel.append(time.monotonic())
        recorder.on_failed(task_id, error)

    engine = make_engine(workers=4, on_done=recorder.on_done, on_failed=on_failed)
    engine.start()
    ids = [engine.enqueue(task) for _ in range(pending)]
    caplog.set_level(logging.WARNING, logger="tasq")
    began = time.monotonic()
    deadline = began + 0.2
    engine.close(timeout=0.2)
    took = time.monotonic() - began
    assert took < 0.2 + 2.0  # the figure at 100,000: each cancelled task is still reported to on_failed
    # The queue is emptied before the first cancellation is reported: after that, only a task
    # a worker had drawn already (one per worker) may still start.
    late = [at for at in starts if at > first_cancel[0]]
    assert len(late) <= 4, f"{len(late)} tasks started once the cancelling began"
    assert first_cancel[0] >= deadline
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
    said = f"engine {engine.name!r}: task {task_id} "
    lines = [record.getMessage() for record in caplog.records if record.getMessage().startswith(said)]
    assert lines == [
        f"{said}cancelled: given up while still running (deploy 42): "
        "it may yet finish, but its outcome is not reported"
    ]


def test_drain_on_sigterm_makes_a_plain_script_drain_its_tasks_on_sigterm() -> None:
    """20. A plain script with tasq.drain_on_sigterm(): SIGTERM runs the earlier handler, then the drain."""
    script = textwrap.dedent("""
        import signal, sys, time
        import tasq
        def on_done(task_id):
            print("done", task_id, flush=True)
        def on_failed(task_id, error):
            print("failed", task_id, type(error).__name__, flush=True)
        signal.signal(signal.SIGTERM, lambda signum, frame: print("earlier handler", flush=True))
        tasq.drain_on_sigterm()
        tasq.drain_on_sigterm()  # again: harmless, not chained to itself
        engine = tasq.TasQ(workers=1, on_done=on_done, on_failed=on_failed)
        engine.start()
        for _ in range(20):
            engine.enqueue(lambda: time.sleep(0.02))
        print("ready", flush=True)
        time.sleep(30)
    """)
    command = [sys.executable, "-c", script]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    assert process.stdout.readline() == "ready\n"
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 143, err
    lines = out.splitlines()
    assert lines[0] == "earlier handler"
    reported = sorted(lines[1:])
    assert reported == sorted(f"done {n}" for n in range(1, 21)), err


def test_drain_on_sigterm_refuses_a_thread_other_than_the_main_one() -> None:
    """20. Called from another thread: a clear RuntimeError, nothing installed."""
    errors: list[BaseException] = []

    def call() -> None:
        try:
            tasq.drain_on_sigterm()
        except RuntimeError as error:
            errors.append(error)

    thread = threading.Thread(target=call)
    thread.start()
    thread.join(5)
    assert len(errors) == 1 and "main thread" in str(errors[0])


def test_a_multiprocessing_fork_child_drains_its_engine_before_os_exit() -> None:
    """20. A multiprocessing child (fork) that enqueues and returns: its tasks run before os._exit()."""
    script = textwrap.dedent("""
        import multiprocessing, sys, time
        import tasq
        def on_done(task_id):
            print("done", task_id, flush=True)
        def child():
            engine = tasq.TasQ(workers=1, on_done=on_done)
            engine.start()
            for _ in range(10):
                engine.enqueue(lambda: time.sleep(0.01))
        if __name__ == "__main__":
            process = multiprocessing.get_context("fork").Process(target=child)
            process.start()
            process.join(20)
            print("exit", process.exitcode, flush=True)
    """)
    process = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert process.returncode == 0, process.stderr
    lines = process.stdout.splitlines()
    assert lines[-1] == "exit 0"
    assert sorted(lines[:-1]) == sorted(f"done {n}" for n in range(1, 11)), process.stderr
