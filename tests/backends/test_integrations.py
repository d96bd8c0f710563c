"""The framework integrations on the Dramatiq backend: a configuration change in the web
app, one ``tasq worker`` command, and the framework's hooks fire in the worker process."""

from __future__ import annotations

import importlib
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.backends.conftest import WorkerProcess, clean_redis
from tests.services import REDIS_URL, require

pytestmark = [pytest.mark.services, pytest.mark.timeout(60)]


@pytest.fixture
def site(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The app module of ``request.param``, made in this process and in a worker process."""
    require("Redis")
    name = f"{request.param}-{uuid.uuid4().hex[:8]}"
    events = tmp_path / "events.jsonl"
    for key, value in {"TASQ_BROKER_URL": REDIS_URL, "TASQ_TEST_ENGINE": name, "TASQ_TEST_EVENTS": str(events)}.items():
        monkeypatch.setenv(key, value)
    module_name = f"tests.backends.{request.param}_site"
    sys.modules.pop(module_name, None)
    module = importlib.import_module(module_name)
    worker = WorkerProcess(REDIS_URL, tmp_path, engine=name, module=module_name)
    worker.wait_ready()
    module.worker = worker  # type: ignore[attr-defined]
    try:
        yield module
    finally:
        worker.stop()
        sys.modules.pop(module_name, None)
        clean_redis(name)


@pytest.mark.parametrize("site", ["flask"], indirect=True)
def test_flask_signals_and_app_context_in_the_worker(site: ModuleType) -> None:
    client = site.app.test_client()
    task_id = client.post("/send").get_json()["id"]
    worker: WorkerProcess = site.worker
    assert worker.events.wait([task_id]), worker.log()[-2000:]
    events = worker.events.of(task_id)
    assert [e["event"] for e in events] == ["signal_started", "signal_done", "on_done"]
    assert os.getpid() not in {e["pid"] for e in events}  # all of it in the worker process
    assert all(e["app"] == "flask_site" for e in events if e["event"].startswith("signal_"))
    site.app.extensions["tasq"].close()


@pytest.mark.parametrize("site", ["starlette"], indirect=True)
def test_starlette_engine_given_with_tasq_reports_in_the_worker(site: ModuleType) -> None:
    from starlette.testclient import TestClient

    with TestClient(site.app) as client:
        task_id = client.post("/send", json="hello").json()["id"]
    worker: WorkerProcess = site.worker
    assert worker.events.wait([task_id]), worker.log()[-2000:]
    assert worker.events.outcome(task_id)["value"] == "HELLO"
    assert {e["pid"] for e in worker.events.of(task_id, "done")} != {os.getpid()}
