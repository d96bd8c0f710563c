"""OpenTelemetry traces for TasQ engines: ``instrument(engine)``.

At enqueue, a PRODUCER span ``send <task>``, a child of the span current there (the
request's, under a framework's instrumentation); its W3C ``traceparent`` travels with the
task (in memory, or in the broker's message) and each attempt runs in a CONSUMER span
``process <task>``, a child of that send span, which records how the attempt ended.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from opentelemetry import trace
from opentelemetry.trace import Span, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

import tasq
from tasq.exceptions import RetryTask

__all__ = ["instrument"]

T = TypeVar("T")

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"


class _Tracing(tasq.Hooks):
    def __init__(self, engine: tasq.TasQ, tracer: trace.Tracer) -> None:
        self.engine = engine.name
        self.tracer = tracer
        self._spans: dict[int, Span] = {}  # task id -> the span of its attempt, until its outcome

    def before_enqueue(self, task_id: int, name: str, headers: dict[str, str]) -> None:
        span = self.tracer.start_span(
            f"send {name}",
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "tasq",
                "messaging.operation": "publish",
                "messaging.destination.name": self.engine,
                "messaging.message.id": str(task_id),
            },
        )
        context = span.get_span_context()
        if context.is_valid:
            flags = int(context.trace_flags)
            headers[TRACEPARENT] = f"00-{context.trace_id:032x}-{context.span_id:016x}-{flags:02x}"
            if context.trace_state:
                headers[TRACESTATE] = context.trace_state.to_header()
        span.end()

    def around_task(self, task_id: int, call: Callable[[], T]) -> T:
        running = tasq.current_task()
        name = "unknown" if running is None else running.name
        parent = None if running is None else _parent(running.headers)
        span = self.tracer.start_span(
            f"process {name}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "tasq",
                "messaging.operation": "process",
                "messaging.destination.name": self.engine,
                "messaging.message.id": str(task_id),
                "tasq.task.attempt": 1 if running is None else running.attempt,
            },
        )
        self._spans[task_id] = span  # ended by the outcome's hook, which knows how it ended
        with trace.use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False):
            return call()

    def around_coroutine(self, task_id: int, coro: Awaitable[T]) -> Awaitable[T]:
        span = self._spans.get(task_id)
        return coro if span is None else _in_span(span, coro)

    def after_done(self, task_id: int, return_value: object) -> None:
        span = self._spans.pop(task_id, None)
        if span is not None:
            span.end()

    def after_retry(self, task_id: int, error: RetryTask) -> None:
        span = self._spans.pop(task_id, None)
        if span is not None:
            attributes: dict[str, Any] = {"exception.message": str(error)}
            if error.delay is not None:
                attributes["tasq.retry.delay"] = error.delay
            span.add_event("tasq.retry", attributes)
            span.end()

    def after_failed(self, task_id: int, error: BaseException) -> None:
        span = self._spans.pop(task_id, None)
        if span is None:
            return  # cancelled before an attempt began: there is no attempt to mark
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        span.end()


async def _in_span(span: Span, coro: Awaitable[T]) -> T:
    with trace.use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False):
        return await coro


def _parent(headers: Any) -> Any:
    """The context whose span is the remote send span named by ``traceparent``, or None."""
    value = headers.get(TRACEPARENT)
    if not value:
        return None
    parts = value.split("-")
    if len(parts) < 4 or parts[0] == "ff" or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    try:
        trace_id, span_id, flags = int(parts[1], 16), int(parts[2], 16), int(parts[3][:2], 16)
    except ValueError:
        return None
    state = headers.get(TRACESTATE)
    context = SpanContext(
        trace_id,
        span_id,
        is_remote=True,
        trace_flags=TraceFlags(flags & TraceFlags.SAMPLED),
        trace_state=TraceState.from_header([state]) if state else None,
    )
    if not context.is_valid:
        return None
    return trace.set_span_in_context(trace.NonRecordingSpan(context))


def instrument(engine: tasq.TasQ, tracer_provider: trace.TracerProvider | None = None) -> None:
    """Trace ``engine``'s tasks; before the engine starts. ``tracer_provider`` defaults to
    OpenTelemetry's global one (set by the SDK's ``trace.set_tracer_provider``)."""
    if not isinstance(engine, tasq.TasQ):
        raise TypeError(f"instrument() needs a tasq.TasQ engine, not {type(engine).__name__}")
    if tracer_provider is not None and not isinstance(tracer_provider, trace.TracerProvider):
        raise TypeError(
            f"tracer_provider must be an OpenTelemetry TracerProvider, not {type(tracer_provider).__name__}"
        )
    if engine in _instrumented:
        raise ValueError(f"engine {engine.name!r} is already traced")
    tracer = trace.get_tracer("tasq", tasq.__version__, tracer_provider=tracer_provider)
    engine.add_hooks(_Tracing(engine, tracer))  # refuses a started engine
    _instrumented.add(engine)


_instrumented: weakref.WeakSet[tasq.TasQ] = weakref.WeakSet()
