"""Exit with a store: the exit drain records what it runs in the store (the store's
connections stay open until it is done), and a gunicorn worker's graceful exit finishes a
task it runs even when another process stored it (its drain waits for its own runs, not only
for what it enqueued), while what is still pending stays in the store."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tasq import TasQ
from tests.stored import tasks
from tests.stored.conftest import states
from tests.stored.test_sigkill_servers import NO_CONTROL_SOCKET, ROOT, free_port

pytestmark = pytest.mark.timeout(90)


def test_a_script_that_exits_with_a_task_running_records_its_outcome_in_the_store(store: str, tmp_path: Path) -> None:
    runs = str(tmp_path / "runs.jsonl")
    script = (
        "import sys; from tasq import TasQ; from tests.stored import tasks\n"
        "engine = TasQ(name='exit', store=sys.argv[1]); engine.start()\n"
        "print(engine.enqueue(tasks.linger.task(sys.argv[2], 0.5)), flush=True)\n"
        "while not tasks.read_lines(sys.argv[2]): pass\n"
    )  # exits as the task starts: the interpreter's exit drain waits for it and records it
    done = subprocess.run(
        [sys.executable, "-c", script, store, runs], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "could not record" not in done.stderr, done.stderr
    assert [line["tag"] for line in tasks.read_lines(runs)] == ["start", "end"]
    assert states(store) == {int(done.stdout): "done"}


def wait_for(predicate: object, timeout: float, what: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert server.poll() is None, f"gunicorn exited:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"{what} within {timeout} s:\n{log.read_text()[-3000:]}"
        time.sleep(0.02)


def test_a_gunicorn_worker_finishes_a_run_it_claimed_from_another_process_before_it_exits(
    store: str, tmp_path: Path
) -> None:
    runs = str(tmp_path / "runs.jsonl")
    producer = TasQ(name="exit", store=store, autostart=False)  # stores, never runs
    try:
        task_id = producer.enqueue(tasks.linger.task(runs, 1.5))
        pending_id = producer.enqueue(tasks.linger.task(runs, 0.0), delay=3600)
    finally:
        producer.close(wait=False)
    log = tmp_path / "gunicorn.log"
    command = [
        sys.executable, "-m", "gunicorn", "tests.stored.exit_app:app", "-b", f"127.0.0.1:{free_port()}",
        "-k", "gthread", "-w", "1", "--graceful-timeout", "20", *NO_CONTROL_SOCKET,
    ]  # fmt: skip
    env = {"TASQ_STORE": store, "PATH": "/usr/bin:/bin"}
    with log.open("ab") as out:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: tasks.read_lines(runs), 30, "the worker started the stored task", server, log)
        server.send_signal(signal.SIGTERM)  # mid-run: the task sleeps 1.5 s
        assert server.wait(30) == 0, log.read_text()[-3000:]
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)
    lines = tasks.read_lines(runs)
    assert [line["tag"] for line in lines] == ["start", "end"], lines
    assert lines[0]["pid"] == lines[1]["pid"]
    assert states(store) == {task_id: "done", pending_id: "pending"}
    assert "still running" not in log.read_text()
