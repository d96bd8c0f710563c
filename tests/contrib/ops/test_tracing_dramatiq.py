"""Through Dramatiq over Redis: the traceparent travels in the message, and the worker
subprocess's process span is a child of the producer's send span, one per attempt."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tasq import TasQ
from tasq.contrib import opentelemetry
from tests.backends import tasks
from tests.backends.conftest import WorkerProcess, clean_redis
from tests.services import REDIS_URL, require

pytestmark = [pytest.mark.timeout(90), pytest.mark.services]

ENGINE = f"traced-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[WorkerProcess, Path]]:
    require("Redis")
    span_file = tmp_path / "worker-spans.jsonl"
    monkeypatch.setenv("TASQ_TEST_SPANS", str(span_file))
    process = WorkerProcess(REDIS_URL, tmp_path / "worker", engine=ENGINE, module="tests.contrib.ops.traced_worker_app")
    try:
        process.wait_ready()
        yield process, span_file
    finally:
        process.stop()
        clean_redis(ENGINE)


def worker_spans(path: Path, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= count:
            return [json.loads(line) for line in lines]
        assert time.monotonic() < deadline, f"{len(lines)} of {count} worker spans: {lines}"
        time.sleep(0.05)


def test_the_worker_process_span_is_a_child_of_the_send_span(
    worker: tuple[WorkerProcess, Path], spans: InMemorySpanExporter
) -> None:
    process, span_file = worker
    engine = TasQ(backend="dramatiq", broker_url=REDIS_URL, name=ENGINE)
    opentelemetry.instrument(engine)
    key = uuid.uuid4().hex
    try:
        engine.start()
        with trace.get_tracer("test").start_as_current_span("request") as request:
            added = engine.enqueue(tasks.add.task(2, 3))
            retried = engine.enqueue(tasks.retry_until.task(key, 2))
            failed = engine.enqueue(tasks.fail.task("ValueError"))
        found = worker_spans(span_file, 4)  # add, two attempts of retry_until, fail
        assert process.process.poll() is None, "the worker ran every attempt and is still up"
    finally:
        engine.close(timeout=10)
    produced = [span for span in spans.get_finished_spans() if span.kind is SpanKind.PRODUCER]
    sends = {int((span.attributes or {})["messaging.message.id"]): span for span in produced}
    assert set(sends) == {added, retried, failed}
    for send in sends.values():
        assert send.kind is SpanKind.PRODUCER
        assert send.parent is not None and send.parent.span_id == request.get_span_context().span_id
    for line in found:
        task_id = int(line["attributes"]["messaging.message.id"])
        send = sends[task_id]
        assert line["kind"] == "CONSUMER"
        assert line["trace_id"] == send.context.trace_id, "one trace from the request to the worker"
        assert line["parent_id"] == send.context.span_id, f"{line['name']} is not a child of {send.name}"
        assert line["attributes"]["messaging.destination.name"] == ENGINE
    by_task: dict[int, list[dict[str, Any]]] = {}
    for line in found:
        by_task.setdefault(int(line["attributes"]["messaging.message.id"]), []).append(line)
    assert [line["attributes"]["tasq.task.attempt"] for line in by_task[retried]] == [1, 2]
    assert by_task[retried][0]["events"] == ["tasq.retry"]
    assert by_task[failed][0]["status"] == "ERROR" and by_task[failed][0]["events"] == ["exception"]
    assert by_task[added][0]["name"] == "process tests.backends.tasks.add"
    assert by_task[added][0]["status"] == "UNSET"
