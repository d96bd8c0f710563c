"""The metrics of one process: each count, gauge and histogram after real tasks, and each mount."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

import tasq
from tasq.contrib import prometheus

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def engine(registry: CollectorRegistry) -> Iterator[tasq.TasQ]:
    made = tasq.TasQ(workers=2, name="shop", max_retry=3)
    prometheus.instrument(made, registry)
    yield made
    made.close(timeout=5, cancel_pending=True)


def value(registry: CollectorRegistry, name: str, task: str, **labels: str) -> float:
    found = registry.get_sample_value(name, {"engine": "shop", "task": f"{__name__}.{task}", **labels})
    return 0.0 if found is None else found


def succeed() -> None:
    pass


def fail() -> None:
    raise KeyError("missing")


_attempts: dict[str, int] = {}


def retry_once() -> None:
    _attempts["retry_once"] = _attempts.get("retry_once", 0) + 1
    if _attempts["retry_once"] == 1:
        raise tasq.RetryTask("not yet")


async def wait_a_little() -> None:
    await asyncio.sleep(0.01)


def test_each_outcome_is_counted_under_the_task_name(engine: tasq.TasQ, registry: CollectorRegistry) -> None:
    engine.start()
    for _ in range(5):
        engine.enqueue(succeed)
    engine.enqueue(fail)
    engine.enqueue(retry_once)
    engine.enqueue(wait_a_little)
    assert engine.join(10)
    assert value(registry, "tasq_tasks_enqueued_total", "succeed") == 5
    assert value(registry, "tasq_tasks_started_total", "succeed") == 5
    assert value(registry, "tasq_tasks_succeeded_total", "succeed") == 5
    assert value(registry, "tasq_tasks_failed_total", "fail", exception="KeyError") == 1
    assert value(registry, "tasq_tasks_started_total", "retry_once") == 2
    assert value(registry, "tasq_tasks_retried_total", "retry_once") == 1
    assert value(registry, "tasq_tasks_succeeded_total", "retry_once") == 1
    assert value(registry, "tasq_tasks_succeeded_total", "wait_a_little") == 1
    assert value(registry, "tasq_task_duration_seconds_count", "retry_once") == 2  # one per attempt
    assert value(registry, "tasq_task_duration_seconds_sum", "wait_a_little") >= 0.01  # until the await ended
    assert value(registry, "tasq_task_queue_wait_seconds_count", "succeed") == 5
    assert value(registry, "tasq_task_duration_seconds_bucket", "succeed", le="+Inf") == 5
    for task in ("succeed", "fail", "retry_once", "wait_a_little"):
        assert value(registry, "tasq_tasks_in_progress", task) == 0
        assert value(registry, "tasq_queue_depth", task) == 0


def test_the_gauges_show_what_runs_and_what_waits(engine: tasq.TasQ, registry: CollectorRegistry) -> None:
    release, started = threading.Event(), threading.Semaphore(0)

    def hold() -> None:
        started.release()
        release.wait(10)

    engine.start()
    ids = [engine.submit(hold) for _ in range(5)]
    assert started.acquire(timeout=5) and started.acquire(timeout=5)
    name = "test_the_gauges_show_what_runs_and_what_waits.<locals>.hold"
    assert value(registry, "tasq_tasks_in_progress", name) == 2
    assert value(registry, "tasq_queue_depth", name) == 3
    release.set()
    assert engine.join(10) and len(ids) == 5
    assert value(registry, "tasq_tasks_in_progress", name) == 0
    assert value(registry, "tasq_queue_depth", name) == 0


def test_tasks_cancelled_at_close_are_counted_and_leave_the_queue(registry: CollectorRegistry) -> None:
    engine = tasq.TasQ(workers=1, name="shop")
    prometheus.instrument(engine, registry)
    for _ in range(3):
        engine.enqueue(succeed)  # never started: close() cancels them
    engine.enqueue(succeed, delay=60)
    engine.close()
    assert value(registry, "tasq_tasks_cancelled_total", "succeed") == 4
    assert value(registry, "tasq_tasks_failed_total", "succeed", exception="TaskCancelled") == 4
    assert value(registry, "tasq_queue_depth", "succeed") == 0
    assert value(registry, "tasq_tasks_started_total", "succeed") == 0


def test_labels_never_carry_an_id(engine: tasq.TasQ, registry: CollectorRegistry) -> None:
    engine.start()
    ids = [engine.enqueue(succeed) for _ in range(20)] + [engine.enqueue(fail)]
    assert engine.join(10)
    from prometheus_client import generate_latest

    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            assert set(sample.labels) <= {"engine", "task", "exception", "le"}, sample
            assert sample.labels["task"] in (f"{__name__}.succeed", f"{__name__}.fail"), sample
            assert not set(sample.labels.values()) & {str(task_id) for task_id in ids}, sample


def test_bad_calls_are_refused_and_change_nothing(registry: CollectorRegistry) -> None:
    with pytest.raises(TypeError, match=r"tasq\.TasQ engine"):
        prometheus.instrument("engine", registry)  # type: ignore[arg-type]
    engine = tasq.TasQ(name="shop")
    with pytest.raises(TypeError, match="CollectorRegistry"):
        prometheus.instrument(engine, registry={})  # type: ignore[arg-type]
    prometheus.instrument(engine, registry)
    with pytest.raises(ValueError, match="already has metrics"):
        prometheus.instrument(engine, registry)
    engine.close()
    started = tasq.TasQ(name="late")
    started.start()
    try:
        with pytest.raises(RuntimeError, match="before the engine starts"):
            prometheus.instrument(started, registry)
        assert "late" not in prometheus.scrape(registry).decode()
    finally:
        started.close()


def test_an_engine_without_metrics_keeps_its_plain_path() -> None:
    engine = tasq.TasQ(name="bare")
    try:
        assert engine._put_only, "an engine nobody instruments takes the one-put path"
    finally:
        engine.close()


def _wsgi_get(app: Callable[..., object], method: str = "GET") -> tuple[str, dict[str, str], bytes]:
    answer: dict[str, object] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answer.update(status=status, headers=dict(headers))

    body = b"".join(app({"REQUEST_METHOD": method, "PATH_INFO": "/"}, start_response))  # type: ignore[operator]
    return str(answer["status"]), answer["headers"], body  # type: ignore[return-value]


def test_the_wsgi_app_serves_the_text_format(engine: tasq.TasQ, registry: CollectorRegistry) -> None:
    engine.start()
    engine.enqueue(succeed)
    assert engine.join(10)
    status, headers, body = _wsgi_get(prometheus.wsgi_app(registry))
    assert status == "200 OK"
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert f'tasq_tasks_succeeded_total{{engine="shop",task="{__name__}.succeed"}} 1.0' in body.decode()
    assert _wsgi_get(prometheus.wsgi_app(registry), "POST")[0].startswith("405")
    assert _wsgi_get(prometheus.wsgi_app(registry), "HEAD")[2] == b""


def test_a_broker_engine_counts_where_tasks_run_and_their_wait_from_the_header(registry: CollectorRegistry) -> None:
    from tests.backends import tasks

    engine = tasq.TasQ(backend="dramatiq", broker_url="stub://", name="shop")
    prometheus.instrument(engine, registry)
    try:
        engine.start()
        for value in range(4):
            engine.enqueue(tasks.add.task(value, 1))
        engine.enqueue(tasks.fail.task("ValueError"))
        assert engine.join(10)
    finally:
        engine.close(timeout=10)

    def sample(name: str, task: str, **labels: str) -> float:
        found = registry.get_sample_value(name, {"engine": "shop", "task": f"tests.backends.tasks.{task}", **labels})
        return 0.0 if found is None else found

    assert sample("tasq_tasks_enqueued_total", "add") == 4
    assert sample("tasq_tasks_succeeded_total", "add") == 4
    assert sample("tasq_tasks_failed_total", "fail", exception="ValueError") == 1
    assert sample("tasq_task_queue_wait_seconds_count", "add") == 4
    assert sample("tasq_task_duration_seconds_count", "add") == 4
    assert registry.get_sample_value("tasq_queue_depth", {"engine": "shop", "task": "tests.backends.tasks.add"}) is None


def test_a_multiprocess_directory_that_does_not_exist_is_refused_at_instrument(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object, registry: CollectorRegistry
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", f"{tmp_path}/missing")
    engine = tasq.TasQ(name="nowhere")
    try:
        with pytest.raises(ValueError, match="is not a directory"):
            prometheus.instrument(engine, registry)
        assert engine._put_only, "nothing was added to the engine"
    finally:
        engine.close()
