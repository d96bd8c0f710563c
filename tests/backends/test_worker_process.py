"""Processes come and go; tasks are not lost: a worker stopped with SIGTERM mid-load, a
worker killed with SIGKILL mid-task, and a web process that enqueues and exits. On Dramatiq
and Celery, over real Redis (and RabbitMQ when it is up)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tasq import TasQ
from tests.backends import tasks
from tests.backends.conftest import ROOT, WorkerProcess, clean_rabbitmq, clean_redis
from tests.conftest import SCALE, scaled
from tests.services import RABBITMQ_URL, REDIS_URL, require

pytestmark = pytest.mark.services

BROKERS = {"redis": ("Redis", REDIS_URL), "rabbitmq": ("RabbitMQ", RABBITMQ_URL)}
Broker = Callable[[str], tuple[str, str]]


@pytest.fixture
def broker() -> Iterator[Callable[[str], tuple[str, str]]]:
    """``broker(kind)``: a URL, and an engine name of the test's own (its keys deleted after)."""
    used: list[tuple[str, str]] = []

    def make(kind: str) -> tuple[str, str]:
        service, url = BROKERS[kind]
        require(service)
        engine = f"{kind}-{uuid.uuid4().hex[:8]}"
        used.append((kind, engine))
        return url, engine

    yield make
    for kind, engine in used:
        (clean_redis if kind == "redis" else clean_rabbitmq)(engine)


def sigterm_under_load(
    url: str, engine_name: str, tmp_path: Path, n: int, group: bool, backend: str = "dramatiq"
) -> None:
    first = WorkerProcess(url, tmp_path, engine=engine_name, threads=4, backend=backend)
    first.wait_ready()
    engine = TasQ(backend=backend, broker_url=url, name=engine_name)
    ids = [engine.enqueue(tasks.sleep_then.task(0.05, i)) for i in range(n)]
    events = first.events
    deadline = time.monotonic() + 20
    while sum(e["event"] == "on_done" for e in events.all()) < n // 10:
        assert time.monotonic() < deadline, first.log()[-2000:]
        time.sleep(0.01)
    assert first.stop(group=group) == 0  # graceful: running tasks finish, the rest go back
    stopped_with = len([e for e in events.all() if e["event"] == "on_done"])
    assert stopped_with < n, "the worker finished everything before the signal: nothing was tested"
    second = WorkerProcess(url, tmp_path, engine=engine_name, threads=4, backend=backend)
    try:
        assert events.wait(ids, timeout=60), second.log()[-2000:]
    finally:
        assert second.stop() == 0
    events.assert_once_each(ids)
    starts = [e["id"] for e in events.all() if e["event"] == "start"]
    assert sorted(starts) == sorted(ids), "a task ran twice: the first worker dropped one it had started"
    assert "Killing worker process" not in first.log()  # Dramatiq's hard stop
    assert "stopping cold" not in first.log()  # Celery's, after --shutdown-timeout
    engine.close()


@pytest.mark.stress  # N/10 by default, all of it under `make stress`
@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "kind",
    [
        "redis",
        # RabbitMQ's requeue is RabbitMQ's: checked under `make stress` only, to keep the default run short.
        pytest.param("rabbitmq", marks=pytest.mark.skipif(SCALE != 10, reason="runs under `make stress`")),
    ],
)
def test_a_worker_stopped_with_sigterm_mid_load_loses_nothing(kind: str, broker: Broker, tmp_path: Path) -> None:
    sigterm_under_load(*broker(kind), tmp_path, n=scaled(2000), group=False)


@pytest.mark.stress
@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", BROKERS)
def test_a_celery_worker_stopped_with_sigterm_mid_load_loses_nothing(kind: str, broker: Broker, tmp_path: Path) -> None:
    sigterm_under_load(*broker(kind), tmp_path, n=scaled(2000), group=False, backend="celery")


@pytest.mark.timeout(90)
@pytest.mark.parametrize("stop", ["SIGKILL", "SIGTERM past --shutdown-timeout"])
@pytest.mark.parametrize("kind", BROKERS)
def test_a_celery_worker_killed_mid_task_has_it_delivered_again_and_reported_once(
    kind: str, stop: str, broker: Broker, tmp_path: Path
) -> None:
    url, engine_name = broker(kind)
    if kind == "redis":  # Redis hands an unacknowledged message to another worker after this
        url += "?visibility_timeout=8"
    first = WorkerProcess(url, tmp_path, engine=engine_name, threads=2, backend="celery", shutdown_timeout=1)
    first.wait_ready()
    engine = TasQ(backend="celery", broker_url=url, name=engine_name)
    task_id = engine.enqueue(tasks.sleep_then.task(4.0, 7))  # well past the shutdown timeout, within the visibility
    events = first.events
    deadline = time.monotonic() + 20
    while not events.of(task_id, "start"):
        assert time.monotonic() < deadline, first.log()[-2000:]
        time.sleep(0.01)
    if stop == "SIGKILL":
        first.kill()  # mid-task: no ack, no outcome
    else:  # the stop turns cold after 1 s: the task goes back to the broker, not reported cancelled
        assert first.stop() != 0
        assert "stopping cold" in first.log()
    assert not events.of(task_id, "on_done") and not events.of(task_id, "on_failed")
    second = WorkerProcess(url, tmp_path, engine=engine_name, threads=2, backend="celery", shutdown_timeout=1)
    try:
        assert events.wait([task_id], timeout=30), second.log()[-2000:]
    finally:
        assert second.stop() == 0
    events.assert_once_each([task_id])
    assert [e["attempt"] for e in events.of(task_id, "start")] == [1, 1]  # the same attempt, delivered again
    assert events.outcome(task_id)["value"] == 7
    engine.close()


@pytest.mark.stress
@pytest.mark.timeout(120)
def test_sigterm_to_the_whole_process_group_is_one_graceful_stop(broker: Broker, tmp_path: Path) -> None:
    # systemd's default KillMode signals every process of the unit at once.
    sigterm_under_load(*broker("redis"), tmp_path, n=scaled(2000), group=True)


PRODUCER = """
import json, sys
from tasq import TasQ
from tests.backends import tasks
engine = TasQ(backend=sys.argv[4], broker_url=sys.argv[1], name=sys.argv[2])
print(json.dumps([engine.enqueue(tasks.add.task(i, i)) for i in range(int(sys.argv[3]))]), flush=True)
# no close(): the interpreter exits with the tasks in the broker
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", BROKERS)
@pytest.mark.parametrize("backend", ["dramatiq", "celery"])
def test_tasks_a_web_process_enqueued_before_it_exited_all_run(
    backend: str, kind: str, broker: Broker, tmp_path: Path
) -> None:
    url, engine_name = broker(kind)
    ids: list[int] = []
    for _ in range(2):  # the web process, and the same after a restart
        produced = subprocess.run(
            [sys.executable, "-c", PRODUCER, url, engine_name, "50", backend],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        ids += json.loads(produced.stdout)
    assert len(set(ids)) == 100
    worker = WorkerProcess(url, tmp_path, engine=engine_name, backend=backend)  # only now: the tasks waited
    try:
        assert worker.events.wait(ids, timeout=30), worker.log()[-2000:]
    finally:
        worker.stop()
    worker.events.assert_once_each(ids)
    assert [worker.events.outcome(i)["value"] for i in ids] == [2 * i for i in range(50)] * 2
