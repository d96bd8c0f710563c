"""``python manage.py tasq_worker``: the Django example project scaled out to a Dramatiq or a
Celery worker, by settings alone."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from contextlib import closing
from pathlib import Path

import pytest

from tests.backends.conftest import READY, clean_redis
from tests.services import REDIS_URL, require

pytestmark = pytest.mark.timeout(90)

PROJECT = Path(__file__).resolve().parents[2] / "example_projects" / "django_project"


def manage(env: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *arguments], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=60
    )


def welcomed(database: Path) -> int:
    with closing(sqlite3.connect(database)) as connection:  # sqlite3's own `with` does not close
        (count,) = connection.execute("SELECT COUNT(*) FROM signups_signup WHERE welcomed_at IS NOT NULL").fetchone()
    return int(count)


def test_the_command_refuses_the_thread_backend() -> None:
    env = {**os.environ, "TASQ_BACKEND": "thread"}
    env.pop("TASQ_BROKER_URL", None)
    process = manage(env, "tasq_worker")
    assert process.returncode == 1
    assert "settings.TASQ['BACKEND'] is 'thread'" in process.stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--backend", "thread"], "--backend 'thread' runs tasks in the web process"),
        (["--backend", "nope"], "--backend: unknown backend 'nope'; known: thread, celery, dramatiq"),
        (
            ["--backend", "celery"],
            "backend 'celery' needs a broker: set settings.TASQ['BROKER_URL'] or pass --broker-url",
        ),
        (
            ["--backend", "celery", "--broker-url", "http://127.0.0.1:1/"],
            "--broker-url: backend='celery' speaks redis://",
        ),
        (["--backend", "dramatiq", "--broker-url", "redis://127.0.0.1:1/0", "--processes", "0"], "--processes"),
    ],
)
def test_the_command_refuses_a_backend_or_url_it_cannot_serve(arguments: list[str], message: str) -> None:
    env = {**os.environ, "TASQ_BACKEND": "thread"}
    env.pop("TASQ_BROKER_URL", None)
    process = manage(env, "tasq_worker", *arguments)
    assert process.returncode != 0
    assert message in process.stderr, process.stderr


@pytest.mark.parametrize(
    ("backend", "chosen"),
    [("dramatiq", "settings"), ("celery", "settings"), ("dramatiq", "options"), ("celery", "options")],
)
def test_tasks_a_web_process_enqueues_run_on_the_workers_of_tasq_worker(
    backend: str, chosen: str, tmp_path: Path
) -> None:
    """The backend and broker from settings.TASQ, or from --backend and --broker-url over a
    settings.TASQ that says 'thread' (the worker's engine is then made with them)."""
    require("Redis")
    name = f"djworker-{uuid.uuid4().hex[:8]}"  # its own queue and keys in the tests' Redis db
    database = tmp_path / "db.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "TASQ_BACKEND": backend,
        "TASQ_BROKER_URL": REDIS_URL,
        "TASQ_NAME": name,
        "dramatiq_worker_timeout": "100",
    }
    assert manage(env, "migrate", "--verbosity", "0").returncode == 0
    command = [sys.executable, "manage.py", "tasq_worker", "--processes", "1", "--threads", "2"]
    worker_env = env
    if chosen == "options":
        worker_env = {**env, "TASQ_BACKEND": "thread"}
        worker_env.pop("TASQ_BROKER_URL")
        command += ["--backend", backend, "--broker-url", REDIS_URL]
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        worker = subprocess.Popen(
            command, cwd=PROJECT, env=worker_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 30
        while READY[backend] not in log_path.read_text() and worker.poll() is None:
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.05)
        assert "signups.tasks.send_welcome" in log_path.read_text()  # found in the app's tasks module
        web = manage(
            env,
            "shell",
            "-c",
            "from signups.models import Signup; from signups.tasks import send_welcome\n"
            "ids = [send_welcome.enqueue(Signup.objects.create(email=f'u{n}@example.com').pk) for n in range(1, 21)]\n"
            "print(len(set(ids)), all(type(i) is int for i in ids))",
        )
        assert web.returncode == 0, web.stderr
        assert web.stdout.splitlines()[-1].split() == ["20", "True"]  # 20 distinct int ids, from a process now gone
        deadline = time.monotonic() + 30
        while welcomed(database) < 20:
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.05)
        assert "no engine named" not in log_path.read_text()  # the project's own engine reported them
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
        clean_redis(name)
