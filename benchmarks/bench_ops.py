"""Metrics and tracing: the end-to-end cost per task over the bare engine, no-op tasks.

Three engines side by side (``measure``): the bare engine, the same with
``tasq.contrib.prometheus.instrument`` (its own registry, scraped once after each run), and
the same with ``tasq.contrib.opentelemetry.instrument`` on an SDK tracer provider whose
exporter drops every span (a send and a process span per task). Each repetition times from
the first enqueue to the last ``on_done``; the figure is the median over repetitions of the
paired difference to the bare engine, in ns per task.
"""

from __future__ import annotations

import itertools
import statistics
import threading
import time
from collections.abc import Callable, Sequence

from benchmarks.common import Result, Trial, measure, median, paired_ratio, ratio_range
from tasq import TasQ

WORKERS = 10
WAIT = 300.0

GROUP = "operations: no-op tasks end to end, extra cost per task over the bare engine"
BARE = "TasQ (bare)"
METRICS = "TasQ + Prometheus metrics"
TRACING = "TasQ + OpenTelemetry tracing (no-op exporter)"
SDK_FLOOR = "OpenTelemetry SDK alone: 2 spans (no engine)"
METRICS_TARGET_NS = 1_500.0
TRACING_TARGET_NS = 10_000.0


def noop() -> None:
    pass


class Countdown:
    """The done-callback: counts, and sets ``finished`` at ``n``."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._count = itertools.count(1)
        self.finished = threading.Event()

    def __call__(self, task_id: object) -> None:
        if next(self._count) == self.n:
            self.finished.set()


def _bare(engine: TasQ) -> Callable[[], None]:
    return lambda: None


def _metrics(engine: TasQ) -> Callable[[], None]:
    from prometheus_client import CollectorRegistry, generate_latest

    from tasq.contrib import prometheus

    registry = CollectorRegistry()
    prometheus.instrument(engine, registry)
    return lambda: generate_latest(registry) and None


def _tracing(engine: TasQ) -> Callable[[], None]:
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    from tasq.contrib import opentelemetry

    class Dropped(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(Dropped()))
    opentelemetry.instrument(engine, provider)
    return provider.shutdown


def _sdk_floor(n: int) -> Trial:
    """What the SDK alone takes for what tracing does per task: a send span, then a process
    span made current: the part of the tracing figure that is the SDK's, not TasQ's."""

    def trial() -> float:
        from opentelemetry import trace
        from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

        class Dropped(SpanExporter):
            def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
                return SpanExportResult.SUCCESS

        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(Dropped()))
        tracer = provider.get_tracer("floor")
        started = time.perf_counter()
        for _ in range(n):
            tracer.start_span("send").end()
            span = tracer.start_span("process")
            with trace.use_span(span, end_on_exit=False):
                pass
            span.end()
        elapsed = time.perf_counter() - started
        provider.shutdown()
        return elapsed

    return trial


def _end_to_end(setup: Callable[[TasQ], Callable[[], None]], n: int, cpu: list[float]) -> Trial:
    """Wall time from the first enqueue to the last on_done; the process's CPU time over the
    same span goes to ``cpu`` (less moved by other processes on a loaded machine)."""

    def trial() -> float:
        done = Countdown(n)
        engine = TasQ(workers=WORKERS, on_done=done)
        finish = setup(engine)
        engine.start()
        try:
            started, cpu_started = time.perf_counter(), time.process_time()
            for _ in range(n):
                engine.enqueue(noop)
            if not done.finished.wait(WAIT):
                raise RuntimeError(f"only some of {n} tasks finished within {WAIT}s")
            elapsed = time.perf_counter() - started
            cpu.append((time.process_time() - cpu_started) / n * 1e9)
        finally:
            engine.close()
            finish()
        return elapsed

    return trial


def _extra(samples: dict[str, list[float]], name: str) -> float:
    return statistics.median(a - b for a, b in zip(samples[name], samples[BARE], strict=True))


def run(quick: bool, *, n: int | None = None, repetitions: int | None = None) -> list[Result]:
    """``quick``: small N and few repetitions (a smoke run); ``n``/``repetitions`` override."""
    n = n or (10_000 if quick else 100_000)
    reps = repetitions or (3 if quick else 11)
    cpu: dict[str, list[float]] = {BARE: [], METRICS: [], TRACING: []}
    trials = {
        BARE: _end_to_end(_bare, n, cpu[BARE]),
        METRICS: _end_to_end(_metrics, n, cpu[METRICS]),
        TRACING: _end_to_end(_tracing, n, cpu[TRACING]),
        SDK_FLOOR: _sdk_floor(n),
    }
    for trial in trials.values():
        trial()  # untimed: imports and first-use costs
    samples = measure(trials, reps, per=n)
    cpu = {name: values[-reps:] for name, values in cpu.items()}  # not the untimed run
    group = f"{GROUP} (N={n:,})"
    rows = [Result(group=group, name=BARE, ns=median(samples[BARE]), ratio=1.0, baseline=BARE)]
    for name, target in ((METRICS, METRICS_TARGET_NS), (TRACING, TRACING_TARGET_NS)):
        extra = _extra(samples, name)
        rows.append(
            Result(
                group=group,
                name=name,
                ns=median(samples[name]),
                ratio=paired_ratio(samples, name, BARE),
                baseline=BARE,
                target=f"<= +{target / 1000:g} us/task",
                met=extra <= target,
                note=f"+{extra:,.0f} ns/task over the bare engine; CPU time +{_extra(cpu, name):,.0f} ns/task",
                spread=ratio_range(samples, name, BARE),
            )
        )
    rows.append(
        Result(
            group=group,
            name=SDK_FLOOR,
            ns=median(samples[SDK_FLOOR]),
            ratio=paired_ratio(samples, SDK_FLOOR, BARE),
            baseline=BARE,
            note="one thread, no engine: the SDK's own share of the tracing row",
            spread=ratio_range(samples, SDK_FLOOR, BARE),
        )
    )
    return rows


if __name__ == "__main__":
    import sys

    from benchmarks.report import print_tables

    print_tables(run(quick="--quick" in sys.argv))
