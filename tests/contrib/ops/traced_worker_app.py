"""What ``tasq worker`` imports in the Dramatiq tracing test: a traced engine whose spans go,
one JSON line each, to the file TASQ_TEST_SPANS names."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from tasq import TasQ
from tasq.contrib import opentelemetry
from tests.backends import tasks  # noqa: F401 - the worker runs its @background functions


class FileExporter(SpanExporter):
    def __init__(self, path: str) -> None:
        self._descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        for span in spans:
            line = {
                "name": span.name,
                "kind": span.kind.name,
                "trace_id": span.context.trace_id,
                "span_id": span.context.span_id,
                "parent_id": None if span.parent is None else span.parent.span_id,
                "status": span.status.status_code.name,
                "events": [event.name for event in span.events],
                "attributes": dict(span.attributes or {}),
            }
            os.write(self._descriptor, (json.dumps(line) + "\n").encode())
        return SpanExportResult.SUCCESS


provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(FileExporter(os.environ["TASQ_TEST_SPANS"])))
engine = TasQ(
    backend="dramatiq",
    broker_url=os.environ["TASQ_BROKER_URL"],
    name=os.environ["TASQ_TEST_ENGINE"],
)
opentelemetry.instrument(engine, provider)
