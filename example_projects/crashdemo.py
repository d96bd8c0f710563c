"""`make demo`'s crash scene: the Flask example with a store, under gunicorn with 2 workers,
loaded with real sign-ups while each worker is killed with SIGKILL (gunicorn starts a new
one), then the store and the app's database are read back to show that every task a
response acknowledged finished exactly once.

The mail server is never busy here and no address bounces, so that an attempt beyond a
task's first is a run lost with a killed worker. The lease is 2 s (``store_lease``) so the
scene is short: a killed worker's runs are taken over 2-3 s after the kill. The demo reads
the store through an engine of its own on the same file (``result(id)`` and ``stats()``
answer from any process that shares the store); it never starts it.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tasq import TaskStatus, TasQ

from .report import Bar, heading, line, table
from .webdemo import CLIENTS, PASSWORD, free_port

REQUESTS = 2000
KILL_AT = (0.3, 0.6)  # the share of the requests sent when each original worker is killed
LEASE = 2.0  # seconds; the default is 30
MAIL_SECONDS = 0.02  # a mail takes 10-30 ms: some are running at each kill
APP = Path(__file__).parent / "flask_app"
ENGINE = "welcome"  # the Flask app's name, its engine's name (TASQ_NAME's default)


def command(port: int) -> list[str]:
    server = [sys.executable, "-m", "gunicorn", "welcome:create_app()", "--preload", "--bind", f"127.0.0.1:{port}"]
    return [*server, "--workers", "2", "--worker-class", "gthread", "--threads", "16"]


def workers(master: int) -> list[int]:
    """The pids of gunicorn's workers: the master's children (Linux's /proc)."""
    try:
        text = Path(f"/proc/{master}/task/{master}/children").read_text()
    except OSError:
        return []
    return [int(pid) for pid in text.split()]


class Load:
    """Sign-ups sent from CLIENTS threads: what was acknowledged, and what a kill cut off."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.lock = threading.Lock()
        self.acknowledged: dict[int, int] = {}  # task id -> user id, from 201 responses
        self.cut = 0  # no response: the worker serving it was killed
        self.refused: list[str] = []  # a response that was not 201

    @property
    def sent(self) -> int:
        with self.lock:
            return len(self.acknowledged) + self.cut + len(self.refused)

    def send(self, number: int) -> None:
        try:
            response = self.client.post("/signup", json={"email": f"user{number}@mail.example"})
        except httpx.TransportError:
            with self.lock:
                self.cut += 1
            return
        with self.lock:
            if response.status_code == 201:
                body = response.json()
                self.acknowledged[int(body["welcome_task_id"])] = int(body["user_id"])
            else:
                self.refused.append(f"HTTP {response.status_code}: {response.text[:200]}")


def run(requests: int = REQUESTS) -> bool:
    with tempfile.TemporaryDirectory(prefix="tasq-crash-demo-") as tmp:
        store = f"sqlite:///{Path(tmp) / 'tasq.db'}"
        database = Path(tmp) / "welcome.db"
        port = free_port()
        heading(f"Kill and restart: {' '.join(command(port))}")
        line(f"TASQ_STORE={store}; store_lease={LEASE:g} s; each of the 2 workers gets a SIGKILL mid-load")
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "DASHBOARD_PASSWORD": PASSWORD,
            "DATABASE_URL": f"sqlite:///{database}",
            "RESET_DATABASE": "1",
            "LOG_LEVEL": "ERROR",
            "MAIL_BUSY_RATE": "0",
            "MAIL_SECONDS": str(MAIL_SECONDS),
            "TASQ_STORE": store,
            "WELCOME_TASQ_STORE_LEASE": str(LEASE),
            "WELCOME_TASQ_RESULTS": str(10 * requests),  # finished rows kept, to be read back here
        }
        log_path = Path(tmp) / "gunicorn.log"
        with open(log_path, "wb") as log:
            server = subprocess.Popen(
                command(port), cwd=APP, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            reader = TasQ(name=ENGINE, store=store)
            limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
            try:
                with httpx.Client(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30) as client:
                    return _scene(server, client, reader, database, requests, log_path)
            finally:
                reader.close()
                if server.poll() is None:
                    os.killpg(server.pid, signal.SIGKILL)
                    server.wait()


def _up(server: subprocess.Popen[bytes], client: httpx.Client, log_path: Path) -> bool:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if client.get("/stats", timeout=5).status_code == 200 and len(workers(server.pid)) == 2:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    line(f"the server did not come up; its log: {log_path}")
    print(log_path.read_text()[-3000:])
    return False


def _scene(
    server: subprocess.Popen[bytes],
    client: httpx.Client,
    reader: TasQ,
    database: Path,
    requests: int,
    log_path: Path,
) -> bool:
    if not _up(server, client, log_path):
        return False
    original = workers(server.pid)
    killed: list[int] = []
    load = Load(client)
    started = time.perf_counter()
    with Bar("requests sent", requests) as bar, ThreadPoolExecutor(CLIENTS) as clients:
        futures = [clients.submit(load.send, number) for number in range(requests)]
        while not all(future.done() for future in futures):
            sent = load.sent
            if len(killed) < len(KILL_AT) and sent >= KILL_AT[len(killed)] * requests:
                victim = original[len(killed)]
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)
            bar.update(sent, detail=f"SIGKILLed {len(killed)} of 2 workers")
            time.sleep(0.02)
        bar.update(load.sent, detail=f"SIGKILLed {len(killed)} of 2 workers")
    request_seconds = time.perf_counter() - started

    deadline = time.monotonic() + 60
    with Bar("tasks finished", requests) as bar:
        while True:
            stats = reader.stats()
            bar.update(stats.done + stats.failed, stats.enqueued, f"running {stats.running}, pending {stats.pending}")
            if (stats.pending == 0 and stats.running == 0) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    restarted = [pid for pid in workers(server.pid) if pid not in original]

    server.send_signal(signal.SIGTERM)
    try:
        exit_code: int | None = server.wait(30)
    except subprocess.TimeoutExpired:
        exit_code = None
    return _summary(load, reader, database, killed, restarted, request_seconds, exit_code)


def _summary(
    load: Load,
    reader: TasQ,
    database: Path,
    killed: list[int],
    restarted: list[int],
    request_seconds: float,
    exit_code: int | None,
) -> bool:
    acknowledged = load.acknowledged
    results = {task_id: reader.result(task_id) for task_id in acknowledged}
    done = [r for r in results.values() if r is not None and r.status is TaskStatus.DONE]
    again = [r for r in done if r.attempts > 1]
    skipped = [r for r in again if r.return_value == "already delivered"]
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        delivered = {user for (user,) in connection.execute("SELECT user_id FROM delivery")}
        (deliveries,) = connection.execute("SELECT count(*) FROM delivery").fetchone()
    mailed = sum(1 for user in acknowledged.values() if user in delivered)
    stats = reader.stats()
    unanswered = stats.enqueued - len(acknowledged)
    exactly_once = len(done) == len(acknowledged) == mailed and deliveries == len(delivered)
    table(
        "kill and restart summary",
        [
            ("requests", f"{load.sent:,} in {request_seconds:.1f} s"),
            ("workers killed with SIGKILL", f"{len(killed)} (pids {', '.join(map(str, killed))})"),
            ("workers gunicorn started again", f"{len(restarted)}"),
            ("requests cut off by a kill", f"{load.cut:,}"),
            ("tasks acknowledged (201, task id)", f"{len(acknowledged):,}"),
            ("  done in the store", f"{len(done):,}"),
            ("  mail delivered (one per user)", f"{mailed:,}"),
            ("  failed, pending or lost", f"{len(acknowledged) - len(done):,}"),
            ("  run again after a kill", f"{len(again):,}"),
            ("    had sent the mail already", f"{len(skipped):,}"),
            ("tasks stored, response cut off", f"{unanswered:,} ({stats.done - len(done):,} done)"),
            ("server exit on SIGTERM", "clean" if exit_code == 0 else f"code {exit_code}"),
        ],
    )
    line("A request cut off by a kill got no response: its task was not acknowledged (it may still")
    line("have been stored, and then it ran). A task run again was claimed or running in a worker")
    line(f"when it was killed: once its lease lapsed ({LEASE:g} s) another worker ran it, the lost run")
    line("counted as an attempt. One that had sent its mail found its delivery and sent nothing twice.")
    line(f"every acknowledged task finished exactly once: {'yes' if exactly_once else 'NO'}")
    if load.refused:
        line(f"first refused request: {load.refused[0]}")
    return exactly_once and len(killed) == 2 and not load.refused and exit_code == 0 and stats.failed == 0


if __name__ == "__main__":
    sys.exit(0 if run() else 1)
