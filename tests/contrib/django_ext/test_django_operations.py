"""TASQ["TRACING"] and TASQ["METRICS"] under a real server with Django's OpenTelemetry instrumentation."""

from __future__ import annotations

import time

import httpx
import pytest

pytest.importorskip("opentelemetry.instrumentation.django")

from django.core.handlers.wsgi import WSGIHandler
from django.test import override_settings
from opentelemetry.instrumentation.django import DjangoInstrumentor
from opentelemetry.trace import SpanKind

from tests.contrib.ops.servers import wsgi_server
from tests.contrib.ops.tracing import EXPORTER, by_name

pytestmark = pytest.mark.timeout(60)

TASK = "tests.contrib.django_ext.ops_urls.send_receipt"


def test_one_request_is_one_trace_and_metrics_count_the_task() -> None:
    EXPORTER.clear()
    settings = {
        "ROOT_URLCONF": "tests.contrib.django_ext.ops_urls",
        "ALLOWED_HOSTS": ["127.0.0.1"],
        "MIDDLEWARE": [],
        "TASQ": {"TRACING": True, "METRICS": True, "NAME": "django-shop", "WORKERS": 2},
    }
    with override_settings(**settings):
        DjangoInstrumentor().instrument()
        try:
            with wsgi_server(WSGIHandler()) as url:
                response = httpx.post(f"{url}/checkout", timeout=10)
                assert response.status_code == 200, response.text
                task_id = int(response.text)
                deadline = time.monotonic() + 10
                while f"process {TASK}" not in by_name(EXPORTER.get_finished_spans()):
                    assert time.monotonic() < deadline, "the process span never ended"
                    time.sleep(0.02)
                scraped = httpx.get(f"{url}/metrics", timeout=10)
        finally:
            DjangoInstrumentor().uninstrument()
    named = by_name(EXPORTER.get_finished_spans())
    (request,) = [
        span for span in EXPORTER.get_finished_spans() if span.kind is SpanKind.SERVER and "checkout" in span.name
    ]
    send, process = named[f"send {TASK}"][0], named[f"process {TASK}"][0]
    assert len({request.context.trace_id, send.context.trace_id, process.context.trace_id}) == 1
    assert send.parent is not None and send.parent.span_id == request.context.span_id
    assert process.parent is not None and process.parent.span_id == send.context.span_id
    assert (process.attributes or {})["messaging.message.id"] == str(task_id)
    assert (process.attributes or {})["messaging.destination.name"] == "django-shop"
    assert scraped.status_code == 200
    assert f'tasq_tasks_succeeded_total{{engine="django-shop",task="{TASK}"}} 1.0' in scraped.text


def test_a_setting_that_is_not_a_bool_is_refused() -> None:
    from django.core.exceptions import ImproperlyConfigured

    from tasq.contrib.django import get_engine

    with override_settings(TASQ={"TRACING": "yes"}), pytest.raises(ImproperlyConfigured, match="TRACING"):
        get_engine()
