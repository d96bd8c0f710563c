"""What is Celery's own in the Celery backend: the broker URL it takes, the delays Redis
cannot hold, priorities as far as each broker orders them, and eager mode without a broker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tasq import TasQ
from tests.backends import tasks
from tests.backends.conftest import WorkerProcess, clean_rabbitmq, clean_redis
from tests.services import RABBITMQ_URL, REDIS_URL, require

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("stub://", "backend='celery' speaks redis://"),
        ("memory://", "for tests without a broker: eager=True"),
        ("redis://127.0.0.1/15?visibility_timeout=0", "visibility_timeout must be a number of seconds > 0"),
        ("redis://127.0.0.1/15?visibility_timeout=inf", "visibility_timeout must be a number of seconds > 0"),
        ("amqp://127.0.0.1/?visibility_timeout=60", "visibility_timeout is a Redis setting"),
    ],
)
def test_a_broker_url_celery_cannot_use_is_refused_at_configuration(url: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        TasQ(backend="celery", broker_url=url)


def test_eager_mode_runs_inline_through_json_without_a_broker() -> None:
    engine = TasQ(backend="celery", broker_url="redis://127.0.0.1:1/0", eager=True, results=5)  # nothing listens
    try:
        task_id = engine.enqueue(tasks.echo.task({"a": [1, 2]}))
        result = engine.result(task_id)
        assert result is not None and result.return_value == {"a": [1, 2]}
    finally:
        engine.close()


@pytest.mark.services
def test_a_delay_redis_would_hand_to_a_second_worker_is_refused_and_nothing_is_sent() -> None:
    require("Redis")
    name = f"celery-delay-{uuid.uuid4().hex[:8]}"
    engine = TasQ(backend="celery", broker_url=f"{REDIS_URL}?visibility_timeout=60", name=name)
    try:
        with pytest.raises(ValueError, match=r"not below the Redis visibility_timeout \(60s\)"):
            engine.enqueue(tasks.add.task(1, 1), delay=60)
        assert engine.stats().enqueued == 0
        assert engine.join(1)  # its ledger record was discarded: nothing outstanding
    finally:
        engine.close()
        clean_redis(name)


@pytest.fixture(params=["redis", "rabbitmq"])
def broker_url(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    kind: str = request.param
    require("Redis" if kind == "redis" else "RabbitMQ")
    name = f"celery-priority-{uuid.uuid4().hex[:8]}"
    yield (REDIS_URL if kind == "redis" else RABBITMQ_URL), name
    (clean_redis if kind == "redis" else clean_rabbitmq)(name)


@pytest.mark.services
def test_waiting_tasks_run_by_priority(broker_url: tuple[str, str], tmp_path: Path) -> None:
    url, name = broker_url
    engine = TasQ(backend="celery", broker_url=url, name=name)
    low = [engine.enqueue(tasks.add.task(i, 0), priority=-50) for i in range(5)]
    high = [engine.enqueue(tasks.add.task(i, 100), priority=90) for i in range(3)]
    worker = WorkerProcess(url, tmp_path, engine=name, threads=1, backend="celery")  # only now: all of them wait
    try:
        assert worker.events.wait(low + high), worker.log()[-2000:]
    finally:
        worker.stop()
        engine.close()
    order = [e["id"] for e in worker.events.all() if e["event"] == "start"]
    assert set(order[:3]) == set(high), f"the higher priority ran first: {order}"
