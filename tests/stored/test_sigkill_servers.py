"""SIGKILL under load: the Flask example under gunicorn and the Starlette example under
uvicorn, each with 2 worker processes on one store. Requests enqueue one task each and
answer its id; each worker is killed with SIGKILL three times at random moments (the server
starts a new one); then a graceful stop and one restart.

Every id a response carried reaches exactly one terminal state in the store and is reported
at most once; a task that waited at a kill ran once; a task running at a kill ran again in
another process once the lease lapsed; nothing is pending or running at the end. Every run
and every report is a line in a ``RunLog`` file (``tests/stored/runlog.py``).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import gunicorn.config
import pytest

from tests.conftest import scaled

ROOT = Path(__file__).resolve().parents[2]
LEASE = 2.0
KILLS_PER_WORKER = 3
NO_CONTROL_SOCKET = ["--no-control-socket"] if "control_socket_disable" in gunicorn.config.KNOWN_SETTINGS else []


@dataclass
class Server:
    """One app served by ``command`` in its own session; ``port`` it listens on."""

    name: str
    command: list[str]
    env: dict[str, str]
    log_path: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 30
        while len(self.workers()) < 2 or not self._answers():
            assert self.process.poll() is None, f"{self.name} exited:\n{self.log()[-3000:]}"
            assert time.monotonic() < deadline, f"{self.name} did not come up:\n{self.log()[-3000:]}"
            time.sleep(0.05)

    def _answers(self) -> bool:
        try:
            request("GET", self.port, "/nowhere")
            return True
        except OSError:
            return False

    def workers(self) -> list[int]:
        """The worker processes' pids, oldest first (pids grow)."""
        assert self.process is not None
        pids: list[int] = []
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            try:
                pids += [int(pid) for pid in (task / "children").read_text().split()]
            except OSError:
                pass
        return sorted(pid for pid in pids if _is_worker(pid))

    def stop(self, timeout: float = 30) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            self.kill()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _is_worker(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"resource_tracker" not in command and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def request(method: str, port: int, path: str, body: dict[str, object] | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        payload = None if body is None else json.dumps(body)
        connection.request(method, path, body=payload, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Outcome:
    acknowledged: list[int] = field(default_factory=list)
    kills: dict[int, float] = field(default_factory=dict)  # pid -> when it was killed
    errors: list[str] = field(default_factory=list)  # what stopped the killer thread


def load_and_kill(server: Server, total: int, send: Callable[[int], int | None]) -> Outcome:
    """``total`` requests from 8 client threads; meanwhile each worker is SIGKILLed
    ``KILLS_PER_WORKER`` times at random moments, the oldest worker each time (so the two
    worker slots take turns), each kill once the server has both workers again."""
    outcome = Outcome()
    sent = [0]
    lock = threading.Lock()
    kills = 2 * KILLS_PER_WORKER
    moments = sorted(random.sample(range(total // 20, total - total // 10), kills))

    def one(number: int) -> None:
        task_id = send(number)
        with lock:
            sent[0] += 1
            if task_id is not None:
                outcome.acknowledged.append(task_id)

    def killer() -> None:
        try:
            for moment in moments:
                while sent[0] < moment and not finished.is_set():
                    time.sleep(0.002)
                kill_one()
        except BaseException as exc:  # reported by check(), with the server's log
            outcome.errors.append(f"{type(exc).__name__}: {exc}")

    def kill_one() -> None:
        """SIGKILL the oldest worker once both are up; a worker that is gone before the
        signal reaches it (the server replaced it meanwhile) is looked for again."""
        deadline = time.monotonic() + 60
        while True:
            workers = server.workers()
            if len(workers) >= 2:
                victim = workers[0]
                try:
                    os.kill(victim, signal.SIGKILL)
                except ProcessLookupError:
                    continue
                outcome.kills[victim] = time.time()
                break
            assert time.monotonic() < deadline, f"{server.name} has {len(workers)} workers after 60 s"
            time.sleep(0.01)
        while victim in server.workers() and time.monotonic() < deadline:
            time.sleep(0.005)

    finished = threading.Event()
    thread = threading.Thread(target=killer)
    thread.start()
    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(one, range(total)))
    finally:
        finished.set()
        thread.join(60)
    return outcome


def store_rows(store_file: Path) -> dict[int, sqlite3.Row]:
    """Every row: the file holds one app's tasks."""
    connection = sqlite3.connect(store_file, timeout=30)
    connection.row_factory = sqlite3.Row
    try:
        found = connection.execute("SELECT * FROM task").fetchall()
    finally:
        connection.close()
    return {row["id"]: row for row in found}


def wait_until_settled(store_file: Path, timeout: float) -> dict[int, sqlite3.Row]:
    deadline = time.monotonic() + timeout
    while True:
        rows = store_rows(store_file)
        open_rows = [row for row in rows.values() if row["state"] in ("pending", "running")]
        if not open_rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def check(outcome: Outcome, rows: dict[int, sqlite3.Row], run_log: Path, total: int) -> str:
    """The promise's assertions over the store and the run log; a summary line."""
    acknowledged = outcome.acknowledged
    assert not outcome.errors, f"the killer stopped: {outcome.errors}"
    assert len(outcome.kills) == 2 * KILLS_PER_WORKER
    assert len(acknowledged) == len(set(acknowledged)) >= total // 2, "too few requests were answered"
    assert set(acknowledged) <= set(rows), "an acknowledged id is not in the store"
    left = {task_id: row["state"] for task_id, row in rows.items() if row["state"] in ("pending", "running")}
    assert not left, f"pending or running at the end: {list(left.items())[:5]}"
    starts: dict[int, list[dict[str, object]]] = defaultdict(list)
    ends: dict[int, list[dict[str, object]]] = defaultdict(list)
    for line in run_log.read_text().splitlines():
        event = json.loads(line)
        (starts if event["e"] == "start" else ends)[int(event["id"])].append(event)
    twice = {task_id: len(events) for task_id, events in ends.items() if len(events) > 1}
    assert not twice, f"reported more than once: {list(twice.items())[:5]}"
    ran_again = 0
    for task_id, row in rows.items():
        runs = starts[task_id]
        ended_in = {event["pid"] for event in ends[task_id]}
        # Every run but the last was lost with its process: killed, its outcome never recorded.
        for lost in runs[:-1]:
            pid = int(lost["pid"])  # type: ignore[call-overload]
            assert pid in outcome.kills and pid not in ended_in, f"task {task_id} ran twice: {runs}"
            rerun = runs[runs.index(lost) + 1]
            assert rerun["pid"] != pid
            waited = float(rerun["t"]) - outcome.kills[pid]  # type: ignore[arg-type]
            assert waited >= LEASE / 3, f"task {task_id} ran again {waited:.2f}s after the kill: its lease was live"
        ran_again += len(runs) > 1
        assert row["attempts"] >= len(runs)
        touched = len(runs) > 1 or row["attempts"] > len(runs) or any(int(e["pid"]) in outcome.kills for e in runs)  # type: ignore[call-overload]
        if row["state"] == "done":
            assert runs, f"task {task_id} is done but never ran"
        else:  # no address bounces and the mail server is never busy: only a kill fails a task
            assert touched, f"task {task_id} failed with no kill involved: {row['error_type']} {row['error_message']}"
        if not touched:
            assert len(runs) == 1, f"task {task_id} waited through no kill and ran {len(runs)} times"
    states = [row["state"] for row in rows.values()]
    errors = Counter(str(row["error_type"]).rpartition(".")[2] for row in rows.values() if row["state"] != "done")
    return (
        f"{len(acknowledged)} acknowledged of {total} requests, {len(rows)} stored; "
        f"{states.count('done')} done, {states.count('failed')} failed {dict(errors)}; "
        f"{ran_again} ran again after a kill"
    )


@pytest.mark.stress
@pytest.mark.timeout(240)
def test_gunicorn_flask_example_with_a_store_loses_nothing_to_sigkill(tmp_path: Path) -> None:
    total = scaled(5_000)
    store_file = tmp_path / "tasq.db"
    run_log = tmp_path / "runs.jsonl"
    env = {
        **os.environ,
        "RUN_LOG": str(run_log),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'welcome.db'}",
        "MAIL_BUSY_RATE": "0",
        "MAIL_SECONDS": "0.05",
        "LOG_LEVEL": "WARNING",
        "WELCOME_TASQ_STORE": f"sqlite:///{store_file}",
        "WELCOME_TASQ_STORE_LEASE": str(LEASE),
        "WELCOME_TASQ_STORE_POLL": "0.2",
        "WELCOME_TASQ_RESULTS": "1000000",  # keep every finished row for the count
        "WELCOME_TASQ_METRICS": "false",
    }
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "tests.stored.flask_store_app:app", "-b", f"127.0.0.1:{port}",
        "-k", "gthread", "-w", "2", "--threads", "8", "--preload", "--graceful-timeout", "10", *NO_CONTROL_SOCKET,
    ]  # fmt: skip
    server = Server("gunicorn", command, env, tmp_path / "server.log", port)

    def send(number: int) -> int | None:
        try:
            status, body = request("POST", port, "/signup", {"email": f"user{number}@mail.example"})
        except (OSError, http.client.HTTPException):
            return None  # the worker serving it was killed: no id was acknowledged
        return int(json.loads(body)["welcome_task_id"]) if status == 201 else None

    try:
        server.start()
        outcome = load_and_kill(server, total, send)
        assert server.stop() == 0, server.log()[-3000:]
        server.start()  # the restart: what was pending or lost runs now
        rows = wait_until_settled(store_file, timeout=60)
        assert server.stop() == 0, server.log()[-3000:]
    finally:
        server.kill()
    summary = check(outcome, rows, run_log, total)
    assert "database is locked" not in server.log()
    sys.stderr.write(f"gunicorn: {summary}\n")


@pytest.mark.stress
@pytest.mark.timeout(240)
def test_uvicorn_starlette_example_with_a_store_loses_nothing_to_sigkill(tmp_path: Path) -> None:
    total = scaled(5_000)
    store_file = tmp_path / "tasq.db"
    run_log = tmp_path / "runs.jsonl"
    env = {
        **os.environ,
        "RUN_LOG": str(run_log),
        "WEBHOOK_BUSY_RATE": "0",
        "WEBHOOK_DELIVERY_SECONDS": "0.05",
        "LOG_LEVEL": "WARNING",
        "TASQ_STORE": f"sqlite:///{store_file}",
        "TASQ_STORE_LEASE": str(LEASE),
        "TASQ_RESULTS": "1000000",
        "TASQ_SHUTDOWN_TIMEOUT": "10",
    }
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", "tests.stored.starlette_store_app:app", "--host", "127.0.0.1",
        "--port", str(port), "--workers", "2", "--log-level", "warning", "--timeout-graceful-shutdown", "15",
    ]  # fmt: skip
    server = Server("uvicorn", command, env, tmp_path / "server.log", port)

    def send(number: int) -> int | None:
        try:
            status, body = request("POST", port, "/webhooks/shop", {"id": f"evt_{number}"})
        except (OSError, http.client.HTTPException):
            return None
        return int(json.loads(body)["task_id"]) if status == 202 else None

    try:
        server.start()
        outcome = load_and_kill(server, total, send)
        assert server.stop() == 0, server.log()[-3000:]
        server.start()
        rows = wait_until_settled(store_file, timeout=60)
        assert server.stop() == 0, server.log()[-3000:]
    finally:
        server.kill()
    summary = check(outcome, rows, run_log, total)
    assert "database is locked" not in server.log()
    sys.stderr.write(f"uvicorn: {summary}\n")


