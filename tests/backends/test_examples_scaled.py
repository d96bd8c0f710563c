"""The Flask example project scaled out by its environment alone: gunicorn serves it with
``TASQ_BACKEND=celery`` (or ``dramatiq``) and ``TASQ_BROKER_URL``, ``tasq worker welcome.worker``
runs the mails, and the outcome is read back through the app's own HTTP API."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import gunicorn.config
import pytest

from tests.backends.conftest import READY, clean_redis, tasq_command
from tests.services import REDIS_URL, require

pytestmark = [pytest.mark.services, pytest.mark.timeout(120)]

FLASK_APP = Path(__file__).resolve().parents[2] / "example_projects" / "flask_app"
NO_CONTROL_SOCKET = ["--no-control-socket"] if "control_socket_disable" in gunicorn.config.KNOWN_SETTINGS else []
SIGNUPS = 8


class Process:
    """A subprocess in its own session, logging to a file."""

    def __init__(self, command: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        with log_path.open("w") as log:
            self.process = subprocess.Popen(
                command, cwd=FLASK_APP, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while (found := re.search(pattern, self.log())) is None:
            assert self.process.poll() is None, f"exited with {self.process.returncode}:\n{self.log()[-3000:]}"
            assert time.monotonic() < deadline, f"no {pattern!r} in:\n{self.log()[-3000:]}"
            time.sleep(0.05)
        return found

    def stop(self, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def call(port: int, method: str, path: str, body: object = None) -> tuple[int, dict[str, object]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        payload = None if body is None else json.dumps(body)
        connection.request(method, path, body=payload, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.parametrize("backend", ["celery", "dramatiq"])
def test_the_flask_example_sends_its_mails_to_a_worker_by_its_environment(backend: str, tmp_path: Path) -> None:
    require("Redis")
    name = f"welcome-{uuid.uuid4().hex[:8]}"  # its own queue and keys in the tests' Redis db
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'welcome.db'}",
        "TASQ_BACKEND": backend,
        "TASQ_BROKER_URL": REDIS_URL,
        "WELCOME_TASQ_NAME": name,
        "MAIL_BUSY_RATE": "0",
        "dramatiq_worker_timeout": "100",
    }
    gunicorn = [sys.executable, "-m", "gunicorn", "-k", "gthread", "--threads", "4", "--preload", "-b", "127.0.0.1:0"]
    worker: Process | None = None
    server = Process([*gunicorn, *NO_CONTROL_SOCKET, "welcome:create_app()"], env, tmp_path / "gunicorn.log")
    try:
        port = int(server.wait_for(r"Listening at: http://127\.0\.0\.1:(\d+)").group(1))
        # Then the worker: both make the app, and two create_all() on one new SQLite file race.
        command = [*tasq_command(), "worker", "welcome.worker", "-p", "1", "-t", "2"]
        worker = Process(command, env, tmp_path / "worker.log")
        worker.wait_for(re.escape(READY[backend]))
        assert "welcome.mail.send_welcome_mail" in worker.log()  # found through the app it imported
        users, task_ids = [], []
        for n in range(SIGNUPS):
            status, answer = call(port, "POST", "/signup", {"email": f"user{n}@example.com"})
            assert status == 201, answer
            users.append(answer["user_id"])
            task_ids.append(answer["welcome_task_id"])
        assert len(set(task_ids)) == SIGNUPS and all(type(i) is int for i in task_ids)
        deadline = time.monotonic() + 30
        waiting = list(users)
        while waiting:
            assert time.monotonic() < deadline, f"never delivered: {waiting}\n{worker.log()[-3000:]}"
            waiting = [u for u in waiting if call(port, "GET", f"/users/{u}")[1]["welcome_mail_delivered_at"] is None]
            time.sleep(0.05)
        stats = call(port, "GET", "/stats")[1]  # the one gunicorn worker's signals: sent, none run here
        assert (stats["enqueued"], stats["done"]) == (SIGNUPS, 0), stats
        log = worker.log()
        assert "no engine named" not in log  # the app's own engine reported them
        assert "ERROR" not in log, log[-3000:]
        assert f"tasq.{name}" in log  # the queue of the app's engine, named by WELCOME_TASQ_NAME
        assert worker.stop() == 0
        assert server.stop() == 0
    finally:
        if worker is not None:
            worker.stop(10)
        server.stop(10)
        clean_redis(name)
