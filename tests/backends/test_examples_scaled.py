"""The example projects scaled out by their environment alone: their own server (gunicorn,
uvicorn) serves each with ``TASQ_BACKEND=celery`` (or ``dramatiq``) and ``TASQ_BROKER_URL``, a
real worker (``tasq worker``, ``manage.py tasq_worker``) runs the tasks over Redis, and each
outcome is read back through the app's own HTTP API; the web process ran none of them."""

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

EXAMPLES = Path(__file__).resolve().parents[2] / "example_projects"
FLASK_APP = EXAMPLES / "flask_app"
NO_CONTROL_SOCKET = ["--no-control-socket"] if "control_socket_disable" in gunicorn.config.KNOWN_SETTINGS else []
SIGNUPS = 8


class Process:
    """A subprocess in its own session, logging to a file."""

    def __init__(self, command: list[str], env: dict[str, str], log_path: Path, cwd: Path = FLASK_APP) -> None:
        self.log_path = log_path
        with log_path.open("w") as log:
            self.process = subprocess.Popen(
                command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
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


@pytest.mark.parametrize("example", ["starlette_app", "fastapi_app"])
def test_a_webhook_example_sends_its_deliveries_to_a_celery_worker_under_uvicorn(example: str, tmp_path: Path) -> None:
    require("Redis")
    name = f"hooks-{uuid.uuid4().hex[:8]}"  # its own queue and keys in the tests' Redis db
    env = {
        **os.environ,
        "TASQ_BACKEND": "celery",
        "TASQ_BROKER_URL": REDIS_URL,
        "TASQ_NAME": name,
        "WEBHOOK_BUSY_RATE": "0",
        "PYTHONUNBUFFERED": "1",
    }
    here = EXAMPLES / example
    uvicorn = [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", "0"]
    server = Process(uvicorn, env, tmp_path / "uvicorn.log", cwd=here)
    command = [*tasq_command(), "worker", "app", "--backend", "celery", "-p", "1", "-t", "2"]
    worker = Process(command, env, tmp_path / "worker.log", cwd=here)
    try:
        port = int(server.wait_for(r"Uvicorn running on http://127\.0\.0\.1:(\d+)").group(1))
        worker.wait_for(re.escape(READY["celery"]))
        assert "app.deliver" in worker.log()  # found in the module it imported
        task_ids = []
        for n in range(SIGNUPS):
            event = {"id": f"evt_{n}", "type": "order.paid", "data": {"order": n}}
            status, answer = call(port, "POST", "/webhooks/shop", event)
            assert status == 202, answer
            task_ids.append(answer["task_id"])
        assert len(set(task_ids)) == SIGNUPS and all(type(i) is int for i in task_ids)
        deadline = time.monotonic() + 30
        outcomes: dict[object, dict[str, object]] = {}
        while len(outcomes) < SIGNUPS:  # the web process reads each outcome from the Redis ledger
            assert time.monotonic() < deadline, f"never done: {outcomes}\n{worker.log()[-3000:]}"
            for task_id in set(task_ids) - set(outcomes):
                status, answer = call(port, "GET", f"/tasks/{task_id}")
                if status == 200 and answer["status"] in ("DONE", "FAILED"):
                    outcomes[task_id] = answer
            time.sleep(0.05)
        for task_id, outcome in outcomes.items():
            assert outcome == {"id": task_id, "status": "DONE", "attempts": 1, "error": None}
        stats = call(port, "GET", "/stats")[1]  # this process's hooks: sent, none run here
        assert (stats["enqueued"], stats["done"], stats["failed"]) == (SIGNUPS, 0, 0), stats
        log = worker.log()
        assert "no engine named" not in log  # the app's own engine reported them
        assert "ERROR" not in log, log[-3000:]
        assert f"tasq.{name}" in log  # the queue of the app's engine, named by TASQ_NAME
        assert worker.stop() == 0
        assert server.stop() == -signal.SIGTERM  # uvicorn re-raises the signal once it has drained
        assert f"engine '{name}' shut down" in server.log()
    finally:
        worker.stop(10)
        server.stop(10)
        clean_redis(name)


def test_the_django_example_sends_its_mails_to_a_celery_worker_under_gunicorn(tmp_path: Path) -> None:
    require("Redis")
    name = f"djexample-{uuid.uuid4().hex[:8]}"  # its own queue and keys in the tests' Redis db
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "BIND": "127.0.0.1:0",
        "GUNICORN_WORKERS": "1",
        "TASQ_BACKEND": "celery",
        "TASQ_BROKER_URL": REDIS_URL,
        "TASQ_NAME": name,
    }
    here = EXAMPLES / "django_project"
    server = Process([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"], env, tmp_path / "gunicorn.log", here)
    worker: Process | None = None
    try:
        # gunicorn migrates in its master before it listens: the worker then finds the tables.
        port = int(server.wait_for(r"Listening at: http://127\.0\.0\.1:(\d+)").group(1))
        command = [sys.executable, "manage.py", "tasq_worker", "--backend", "celery", "-p", "1", "-t", "2"]
        worker = Process(command, env, tmp_path / "worker.log", here)
        worker.wait_for(re.escape(READY["celery"]))
        assert "signups.tasks.send_welcome" in worker.log()  # found in the app's tasks module
        task_ids = []
        for n in range(SIGNUPS):  # half through the sync view, half through the async one
            path = "/signups/async/" if n % 2 else "/signups/"
            status, answer = call(port, "POST", path, {"email": f"user{n}@example.com"})
            assert status == 202, answer
            task_ids.append(answer["task_id"])
        assert len(set(task_ids)) == SIGNUPS and all(type(i) is int for i in task_ids)
        deadline = time.monotonic() + 30
        while True:  # the report runs in the web process (Django's immediate backend) on the same rows
            status, answer = call(port, "POST", "/reports/")
            assert status == 200 and answer["status"] == "SUCCESSFUL", answer
            if answer["report"] == {"signups": SIGNUPS, "welcomed": SIGNUPS, "attempt": 1}:
                break
            assert time.monotonic() < deadline, f"never welcomed: {answer}\n{worker.log()[-3000:]}"
            time.sleep(0.05)
        stats = call(port, "GET", "/stats/")[1]  # this process's signals: sent, none run here
        assert (stats["enqueued"], stats["done"], stats["failed"]) == (SIGNUPS, 0, 0), stats
        log = worker.log()
        assert "no engine named" not in log  # the project's own engine reported them
        assert "ERROR" not in log, log[-3000:]
        assert f"tasq.{name}" in log  # the queue of the project's engine, named by TASQ_NAME
        assert worker.stop() == 0
        assert server.stop() == 0
    finally:
        if worker is not None:
            worker.stop(10)
        server.stop(10)
        clean_redis(name)
