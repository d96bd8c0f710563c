"""The framework integrations on the scale-out backends (Dramatiq, Celery): a configuration
change in the web app, one ``tasq worker`` command, and the framework's hooks fire in the
worker process."""

from __future__ import annotations

import importlib
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tasq import TasQ
from tests.backends import tasks
from tests.backends.conftest import WorkerProcess, clean_redis
from tests.services import REDIS_URL, require

pytestmark = [pytest.mark.services, pytest.mark.timeout(60)]

BACKENDS = ["dramatiq", "celery"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def site(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ModuleType]:
    """The app module of ``request.param`` on ``backend``, made in this process and in a worker process."""
    require("Redis")
    name = f"{request.param}-{uuid.uuid4().hex[:8]}"
    events = tmp_path / "events.jsonl"
    settings = {"TASQ_BACKEND": backend, "TASQ_BROKER_URL": REDIS_URL, "TASQ_TEST_ENGINE": name}
    for key, value in {**settings, "TASQ_TEST_EVENTS": str(events)}.items():
        monkeypatch.setenv(key, value)
    module_name = f"tests.backends.{request.param}_site"
    sys.modules.pop(module_name, None)
    module = importlib.import_module(module_name)
    worker = WorkerProcess(REDIS_URL, tmp_path, engine=name, module=module_name, backend=backend)
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


def test_django_signals_fire_in_a_worker_that_set_django_up(backend: str, tmp_path: Path) -> None:
    # The web side needs no Django here: any engine of the same name sends to its queue.
    require("Redis")
    name = f"django-{uuid.uuid4().hex[:8]}"
    worker = WorkerProcess(REDIS_URL, tmp_path, engine=name, module="tests.backends.django_site", backend=backend)
    engine = TasQ(backend=backend, broker_url=REDIS_URL, name=name)
    try:
        worker.wait_ready()
        task_id = engine.enqueue(tasks.add.task(2, 2))
        assert worker.events.wait([task_id]), worker.log()[-2000:]
        events = worker.events.of(task_id)
        assert [e["event"] for e in events] == ["signal_started", "signal_done", "on_done"]
        assert events[0]["sender"] == {"dramatiq": "DramatiqEngine", "celery": "CeleryEngine"}[backend]
        queue = {"dramatiq": f"tasq.{name}", "celery": f"celery.tasq.{name}"}[backend]
        assert f"queues {queue}:" in worker.log()
    finally:
        worker.stop()
        engine.close()
        clean_redis(name)
