"""One request, one trace: the framework's request span, TasQ's send span, then its process span.

Each app runs under a real server in this process with the framework's own OpenTelemetry
instrumentation; the SDK's in-memory exporter collects every span.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

pytest.importorskip("opentelemetry.instrumentation.flask")
pytest.importorskip("opentelemetry.instrumentation.asgi")

from flask import Flask
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import tasq
from tasq.contrib.flask import TasQ as FlaskTasQ
from tasq.contrib.starlette import TasQMiddleware, get_engine
from tests.contrib.ops.servers import asgi_server, wsgi_server
from tests.contrib.ops.tracing import by_name

pytestmark = pytest.mark.timeout(60)

seen_running: list[tasq.RunningTask | None] = []


def send_receipt() -> None:
    seen_running.append(tasq.current_task())


def charge_card() -> None:
    raise ConnectionError("the bank is down")


async def notify() -> None:
    seen_running.append(tasq.current_task())


def wait_for(
    spans: InMemorySpanExporter, ready: Callable[[dict[str, list[ReadableSpan]]], bool]
) -> dict[str, list[ReadableSpan]]:
    deadline = time.monotonic() + 10
    while True:
        named = by_name(spans.get_finished_spans())
        if ready(named):
            return named
        assert time.monotonic() < deadline, f"spans so far: {sorted(named)}"
        time.sleep(0.02)


def check_one_trace(request: ReadableSpan, send: ReadableSpan, process: ReadableSpan, engine: str) -> None:
    assert request.kind is SpanKind.SERVER
    assert send.kind is SpanKind.PRODUCER and process.kind is SpanKind.CONSUMER
    trace_ids = {span.context.trace_id for span in (request, send, process)}
    assert len(trace_ids) == 1, "the request, send and process spans are one trace"
    assert send.parent is not None and send.parent.span_id == request.context.span_id
    assert process.parent is not None and process.parent.span_id == send.context.span_id
    assert process.parent.is_remote, "the process span's parent arrived with the task"
    for span, operation in ((send, "publish"), (process, "process")):
        attributes = span.attributes or {}
        assert attributes["messaging.system"] == "tasq"
        assert attributes["messaging.destination.name"] == engine
        assert attributes["messaging.operation"] == operation
    assert (send.attributes or {})["messaging.message.id"] == (process.attributes or {})["messaging.message.id"]


def test_flask_request_send_and_process_spans_are_one_trace(spans: InMemorySpanExporter) -> None:
    app = Flask("traced_flask")
    app.config.update(TASQ_TRACING=True, TASQ_NAME="flask-shop")
    extension = FlaskTasQ(app)
    FlaskInstrumentor().instrument_app(app)

    @app.post("/checkout")
    def checkout() -> str:
        return str(extension.submit(send_receipt)) + "," + str(extension.submit(charge_card))

    engine = app.extensions["tasq"]
    seen_running.clear()
    try:
        with wsgi_server(app) as url:
            response = httpx.post(f"{url}/checkout", timeout=10)
        assert response.status_code == 200
        receipt_id, charge_id = map(int, response.text.split(","))
        assert engine.join(10)
    finally:
        engine.close()
        FlaskInstrumentor().uninstrument_app(app)
    receipt, charge = f"{__name__}.send_receipt", f"{__name__}.charge_card"
    named = wait_for(spans, lambda named: f"process {receipt}" in named and f"process {charge}" in named)
    (request,) = [span for span in spans.get_finished_spans() if span.kind is SpanKind.SERVER]
    check_one_trace(request, named[f"send {receipt}"][0], named[f"process {receipt}"][0], "flask-shop")
    check_one_trace(request, named[f"send {charge}"][0], named[f"process {charge}"][0], "flask-shop")
    assert (named[f"process {receipt}"][0].attributes or {})["messaging.message.id"] == str(receipt_id)
    assert (named[f"process {charge}"][0].attributes or {})["messaging.message.id"] == str(charge_id)
    failed = named[f"process {charge}"][0]
    assert failed.status.status_code is StatusCode.ERROR
    assert [event.name for event in failed.events] == ["exception"]
    assert (failed.events[0].attributes or {})["exception.type"] == "ConnectionError"
    (running,) = seen_running
    assert running is not None and running.id == receipt_id and running.name == receipt
    assert running.headers["traceparent"].split("-")[2] == f"{named[f'send {receipt}'][0].context.span_id:016x}"


def test_starlette_request_send_and_process_spans_are_one_trace_for_async_tasks(spans: InMemorySpanExporter) -> None:
    async def signup(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str(get_engine(request).enqueue(notify)))

    app = Starlette(routes=[Route("/signup", signup, methods=["POST"])])
    app.add_middleware(TasQMiddleware, name="starlette-shop", tracing=True)
    seen_running.clear()
    with asgi_server(OpenTelemetryMiddleware(app)) as url:
        response = httpx.post(f"{url}/signup", timeout=10)
        assert response.status_code == 200
        name = f"{__name__}.notify"
        named = wait_for(spans, lambda named: f"process {name}" in named)
    (request,) = [span for span in spans.get_finished_spans() if span.kind is SpanKind.SERVER]
    check_one_trace(request, named[f"send {name}"][0], named[f"process {name}"][0], "starlette-shop")
    (running,) = seen_running
    assert running is not None and running.id == int(response.text) and running.name == name


def test_each_attempt_has_its_process_span_and_retries_show(spans: InMemorySpanExporter) -> None:
    from opentelemetry import trace

    from tasq.contrib import opentelemetry

    attempts: list[int] = []

    def flaky() -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise tasq.RetryTask("again", delay=0)

    engine = tasq.TasQ(workers=1, name="retrying", max_retry=3)
    opentelemetry.instrument(engine)
    with trace.get_tracer("test").start_as_current_span("caller") as caller, engine:
        engine.enqueue(flaky)
    processes = [span for span in spans.get_finished_spans() if span.name.startswith("process ")]
    assert [(span.attributes or {})["tasq.task.attempt"] for span in processes] == [1, 2, 3]
    (send,) = [span for span in spans.get_finished_spans() if span.name.startswith("send ")]
    assert send.parent is not None and send.parent.span_id == caller.get_span_context().span_id
    assert all(span.parent is not None and span.parent.span_id == send.context.span_id for span in processes)
    assert [[event.name for event in span.events] for span in processes] == [["tasq.retry"], ["tasq.retry"], []]
    assert all(span.status.status_code is StatusCode.UNSET for span in processes)


def test_a_task_that_retries_on_every_attempt_fails_its_last_span(spans: InMemorySpanExporter) -> None:
    from tasq.contrib import opentelemetry

    def never() -> None:
        raise tasq.RetryTask("still not")

    engine = tasq.TasQ(workers=1, name="exhausted", max_retry=2)
    opentelemetry.instrument(engine)
    with engine:
        engine.enqueue(never)
    first, last = [span for span in spans.get_finished_spans() if span.name.startswith("process ")]
    assert first.status.status_code is StatusCode.UNSET
    assert last.status.status_code is StatusCode.ERROR
    assert (last.events[-1].attributes or {})["exception.type"] == "tasq.exceptions.MaxRetryExceeded"


def test_instrument_refuses_bad_calls() -> None:
    from tasq.contrib import opentelemetry

    with pytest.raises(TypeError, match=r"tasq\.TasQ engine"):
        opentelemetry.instrument(object())  # type: ignore[arg-type]
    engine = tasq.TasQ(name="twice")
    with pytest.raises(TypeError, match="TracerProvider"):
        opentelemetry.instrument(engine, tracer_provider="global")  # type: ignore[arg-type]
    opentelemetry.instrument(engine)
    with pytest.raises(ValueError, match="already traced"):
        opentelemetry.instrument(engine)
    engine.close()
