"""Promises 8-9 (docs/reliability.md): interpreter exit without close(), and fork()."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(30)

REPORTING = """
import sys, threading, time
import tasq
lock = threading.Lock()
def on_done(task_id):
    with lock:
        print("done", task_id, flush=True)
def on_failed(task_id, error):
    with lock:
        print("failed", task_id, type(error).__name__, flush=True)
"""


def run_script(body: str, timeout: float = 10) -> tuple[list[str], float, subprocess.CompletedProcess[str]]:
    script = REPORTING + textwrap.dedent(body)
    started = time.monotonic()
    process = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning"},
    )
    return process.stdout.splitlines(), time.monotonic() - started, process


def outcomes(lines: list[str]) -> Counter[tuple[str, int]]:
    return Counter((line.split()[0], int(line.split()[1])) for line in lines if line.split()[0] in ("done", "failed"))


def test_exit_without_close_drains_a_started_engine() -> None:
    """8. A script enqueues 100 tasks and ends: exits in < 5 s, every task done."""
    lines, seconds, process = run_script("""
        engine = tasq.TasQ(on_done=on_done, on_failed=on_failed)
        engine.start()
        for n in range(100):
            engine.enqueue(lambda: time.sleep(0.01))
    """)
    assert process.returncode == 0, process.stderr
    assert seconds < 5
    reports = outcomes(lines)
    assert sorted(reports) == [("done", task_id) for task_id in range(1, 101)]
    assert set(reports.values()) == {1}


def test_exit_reports_a_never_started_engines_tasks_cancelled() -> None:
    lines, seconds, process = run_script("""
        engine = tasq.TasQ(on_done=on_done, on_failed=on_failed)
        for n in range(100):
            engine.enqueue(lambda: None)
    """)
    assert process.returncode == 0, process.stderr
    assert seconds < 5
    assert sorted(lines) == sorted(f"failed {task_id} TaskCancelled" for task_id in range(1, 101))


def test_exit_bounds_a_drain_of_stuck_tasks_and_reports_them() -> None:
    """Tasks that would outlive shutdown_timeout are reported cancelled, and exit is prompt."""
    lines, seconds, process = run_script("""
        engine = tasq.TasQ(workers=4, shutdown_timeout=0.5, on_done=on_done, on_failed=on_failed)
        engine.start()
        for n in range(100):
            engine.enqueue(lambda: time.sleep(60))
    """)
    assert process.returncode == 0, process.stderr
    assert seconds < 5
    reports = outcomes(lines)
    assert sorted(reports) == [("failed", task_id) for task_id in range(1, 101)]
    assert set(reports.values()) == {1}
    assert all(line.endswith("TaskCancelled") for line in lines if line.startswith("failed"))


def test_exit_drains_the_default_engine_of_background_functions() -> None:
    lines, seconds, process = run_script("""
        tasq.default().on_done = on_done
        @tasq.background
        def send(n):
            time.sleep(0.001)
        ids = [send.enqueue(n) for n in range(100)]
        print("threads", threading.active_count(), flush=True)
    """)
    assert process.returncode == 0, process.stderr
    assert seconds < 5
    assert sorted(outcomes(lines)) == [("done", task_id) for task_id in range(1, 101)]


def test_importing_and_building_starts_no_thread() -> None:
    """9. Importing TasQ (and making an engine, and enqueueing before start) starts 0 threads."""
    lines, _, process = run_script("""
        import tasq.testing
        engine = tasq.TasQ(autostart=False)
        engine.enqueue(lambda: None, delay=5)
        print("threads", threading.active_count(), flush=True)
        engine.close()
    """)
    assert process.returncode == 0, process.stderr
    assert "threads 1" in lines


FORK_SCRIPT = """
import json, os, threading, time
import tasq

marks = os.open(MARKS, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
gate = threading.Event()

def parent_task(n):
    gate.wait(10)
    os.write(marks, f"parent {n} {os.getpid()}\\n".encode())

engine = tasq.TasQ(workers=2)
engine.start()
for n in range(20):
    engine.submit(parent_task, n)  # 2 running, 18 pending at fork()
time.sleep(0.05)
read_end, write_end = os.pipe()
pid = os.fork()
if pid == 0:
    ran = threading.Event()
    started = time.monotonic()
    def child_task():
        os.write(marks, f"child 0 {os.getpid()}\\n".encode())
        ran.set()
    engine.enqueue(child_task)
    ok = ran.wait(1.0)
    report = {"ran": ok, "seconds": time.monotonic() - started, "stats": engine.stats().enqueued}
    engine.close()
    os.write(write_end, json.dumps(report).encode())
    os._exit(0)
os.close(write_end)
child = json.loads(os.read(read_end, 4096))
os.waitpid(pid, 0)
gate.set()
engine.close()
print(json.dumps(child))
"""


def test_fork_child_starts_empty_and_parent_runs_its_tasks_once(tmp_path: Path) -> None:
    """9. Engine used before fork(): the child's first task runs within 1 s; no task runs twice."""
    marks = tmp_path / "marks"
    script = f"MARKS = {str(marks)!r}\n" + FORK_SCRIPT
    process = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=20,
        env={**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning"},
    )
    assert process.returncode == 0, process.stderr
    child = json.loads(process.stdout.splitlines()[-1])
    assert child["ran"] and child["seconds"] < 1.0
    assert child["stats"] == 1  # the child's engine starts empty
    lines = marks.read_text().splitlines()
    parent_runs = Counter(line.split()[1] for line in lines if line.startswith("parent"))
    assert parent_runs == Counter({str(n): 1 for n in range(20)})
    assert len({line.split()[2] for line in lines if line.startswith("parent")}) == 1  # all in the parent
    assert sum(1 for line in lines if line.startswith("child")) == 1


def test_a_second_interrupt_during_the_exit_drain_still_reports_every_task() -> None:
    """Ctrl-C twice: the drain is cut short, and still every task is reported, once."""
    lines, seconds, _ = run_script("""
        import os, signal
        engine = tasq.TasQ(workers=2, shutdown_timeout=30, on_done=on_done, on_failed=on_failed)
        engine.start()
        for n in range(20):
            engine.enqueue(lambda: time.sleep(0.5))
        # the second signal arrives while the exit drain waits for the 18 pending tasks
        timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
        timer.daemon = True  # exit must not wait for it
        timer.start()
    """)
    assert seconds < 5
    reports = outcomes(lines)
    assert sorted(task_id for _, task_id in reports) == list(range(1, 21))
    assert set(reports.values()) == {1}


def test_enqueueing_on_the_default_engine_after_the_exit_drain_is_refused_not_lost() -> None:
    script = textwrap.dedent("""
        import atexit

        def late():  # registered before tasq is imported, so it runs after TasQ's exit drain
            try:
                send.enqueue(2)
                print("accepted after the drain", flush=True)
            except tasq.TasQClosed:
                print("refused after the drain", flush=True)

        atexit.register(late)
        import tasq

        @tasq.background
        def send(n):
            pass

        tasq.default().on_done = lambda task_id: print("done", task_id, flush=True)
        send.enqueue(1)
    """)
    process = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=10)
    assert process.returncode == 0, process.stderr
    assert process.stdout.splitlines() == ["done 1", "refused after the drain"]
