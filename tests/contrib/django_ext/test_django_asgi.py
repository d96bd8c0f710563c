"""Django under an ASGI server: the lifespan drains the engine, in process and under uvicorn."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tasq import TasQClosed
from tasq.contrib.django import get_engine
from tasq.contrib.django.asgi import with_lifespan
from tests.contrib.django_ext.testapp import tasks

pytestmark = pytest.mark.timeout(60)

PROJECT = Path(__file__).resolve().parents[3] / "example_projects" / "django_project"
EVENT = re.compile(
    r"^\S+ \S+ (\d+) \w+ tasq[\w.]*: (?:engine '[^']*': )?task (\d+) (enqueued|done|cancelled|\(.*?\) failed)"
)


async def _lifespan(app: Any, during: Any) -> list[str]:
    """Drive ``app`` through startup, ``during()``, shutdown; return what it sent."""
    inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    sent: list[str] = []

    async def send(message: dict[str, str]) -> None:
        sent.append(message["type"])

    server = asyncio.create_task(app({"type": "lifespan"}, inbox.get, send))
    await inbox.put({"type": "lifespan.startup"})
    await asyncio.sleep(0)
    during()
    await inbox.put({"type": "lifespan.shutdown"})
    await server
    return sent


def test_lifespan_shutdown_drains_the_engine_and_no_new_one_starts() -> None:
    async def django_app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("lifespan never reaches Django")

    ids: list[int] = []

    def enqueue() -> None:
        ids.extend(tasks.slow.enqueue(0.05) for _ in range(8))

    sent = asyncio.run(_lifespan(with_lifespan(django_app), enqueue))
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    engine = get_engine()
    assert engine.closed
    assert engine.stats().done == len(ids) == 8  # drained before shutdown.complete
    with pytest.raises(TasQClosed):
        tasks.record.enqueue("after shutdown")


def test_under_uvicorn_sigterm_drains_every_task(tmp_path: Path) -> None:
    # uvicorn re-raises SIGTERM once it stopped: exit handlers never run, the lifespan does.
    log_path = tmp_path / "uvicorn.log"
    database = tmp_path / "db.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "TASQ_LOG_LEVEL": "DEBUG"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=PROJECT, env=env, check=True, timeout=60)
    command = [sys.executable, "-m", "uvicorn", "djangodemo.asgi:application", "--host", "127.0.0.1", "--port", "0"]
    with open(log_path, "wb") as log:
        server = subprocess.Popen(command, cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        port = _wait_for_port(server, log_path)
        accepted = [_signup(port) for _ in range(200)]
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    text = log_path.read_text(errors="replace")
    outcomes: Counter[int] = Counter()
    for line in text.splitlines():
        found = EVENT.match(line)
        if found and found.group(3) != "enqueued":
            outcomes[int(found.group(2))] += 1
    assert sorted(outcomes) == sorted(accepted), text[-3000:]
    assert set(outcomes.values()) == {1}


def _signup(port: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", "/signups/async/", json.dumps({"work_ms": 50}), {"Content-Type": "application/json"})
        response = connection.getresponse()
        body = response.read()
        assert response.status == 202, body[:2000]
        return int(json.loads(body)["task_id"])
    finally:
        connection.close()


def _wait_for_port(server: subprocess.Popen[bytes], log_path: Path) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = re.search(r"Uvicorn running on http://127\.0\.0\.1:(\d+)", log_path.read_text(errors="replace"))
        if found:
            return int(found.group(1))
        if server.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"uvicorn did not come up:\n{log_path.read_text(errors='replace')[-3000:]}")
