"""Prometheus metrics for TasQ engines: ``instrument(engine)``, then serve ``wsgi_app()`` or ``asgi_app()``.

Each task is counted in plain Python by the thread that sees it (each thread owns its
tally, so nothing is locked) and the tallies are summed when Prometheus scrapes. Under
gunicorn's N processes (``PROMETHEUS_MULTIPROC_DIR`` set, prometheus_client's multiprocess
mode) each process writes its sums to prometheus_client's files once a second, at each
scrape it serves and when it exits; the ``/metrics`` of any worker then adds up all of them.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
import types
import weakref
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any, TypeVar

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as _multiprocess
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

import tasq
from tasq.exceptions import RetryTask, TaskCancelled

__all__ = ["CONTENT_TYPE", "asgi_app", "child_exit", "flush", "instrument", "scrape", "wsgi_app"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
WAIT_BUCKETS = DURATION_BUCKETS
T = TypeVar("T")
FLUSH_INTERVAL = 1.0  # seconds between two writes of a process's sums in multiprocess mode

_LABELS = ("engine", "task")
_COUNTERS = (
    ("tasq_tasks_enqueued_total", "Tasks accepted by the engine.", 0),
    ("tasq_tasks_started_total", "Attempts started.", 1),
    ("tasq_tasks_succeeded_total", "Tasks that succeeded.", 2),
    ("tasq_tasks_retried_total", "Attempts that asked for a retry (RetryTask) and got one.", 3),
    ("tasq_tasks_cancelled_total", "Tasks cancelled before or while they ran.", 4),
)
# One row of floats per thread and task name: the counts, then each histogram's buckets
# (the last one +Inf) and its sum. Only the row's thread writes it.
_ENQUEUED, _STARTED, _SUCCEEDED, _RETRIED, _CANCELLED, _ENDED, _DEQUEUED = range(7)
_BUCKETS = len(DURATION_BUCKETS) + 1
_DURATION = 7
_DURATION_SUM = _DURATION + _BUCKETS
_WAIT = _DURATION_SUM + 1
_WAIT_SUM = _WAIT + _BUCKETS
_ROW = _WAIT_SUM + 1

_clock = time.perf_counter
_CoroutineType = types.CoroutineType


class _Metrics(tasq.Hooks):
    """The hooks that count, on the success path in ``before_enqueue`` and ``around_task`` only."""

    def __init__(self, engine: tasq.TasQ, in_process: bool) -> None:
        self.engine = engine.name
        self.in_process = in_process  # the engine runs what it accepts: it can tell the queue's depth
        self.reset()

    def reset(self) -> None:
        """Counting from zero (and in a forked child: what the parent counted is the parent's)."""
        self.tallies: list[tuple[dict[str, list[float]], dict[tuple[str, str], int]]] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        self._queued: dict[int, tuple[str, float]] = {}  # task id -> (name, when it was accepted)
        self._failing: dict[int, str] = {}  # task id -> name, from an attempt's error to its report
        self._retrying: dict[int, str] = {}  # task id -> name, from a retry to the next attempt

    def _rows(self) -> dict[str, list[float]]:
        try:
            rows: dict[str, list[float]] = self._local.rows
        except AttributeError:
            failed: dict[tuple[str, str], int]
            rows, failed = {}, {}
            self._local.rows, self._local.failed = rows, failed
            with self._lock:
                self.tallies.append((rows, failed))
        return rows

    def _row(self, name: str) -> list[float]:
        rows = self._rows()
        row = rows.get(name)
        if row is None:
            row = rows[name] = [0.0] * _ROW
        return row

    def before_enqueue(self, task_id: int, name: str, headers: dict[str, str]) -> None:
        try:
            row = self._local.rows[name]
        except (AttributeError, KeyError):
            row = self._row(name)
        row[_ENQUEUED] += 1
        if self.in_process:
            self._queued[task_id] = (name, _clock())

    def around_task(self, task_id: int, call: Callable[[], T]) -> T:
        queued = self._queued.pop(task_id, None)
        started = _clock()
        name = queued[0] if queued is not None else self._retrying.pop(task_id, "") or _running_name()
        try:
            row = self._local.rows[name]
        except (AttributeError, KeyError):
            row = self._row(name)
        if queued is not None:
            wait = started - queued[1]
            row[_WAIT + bisect_left(WAIT_BUCKETS, wait)] += 1
            row[_WAIT_SUM] += wait
            row[_DEQUEUED] += 1
        row[_STARTED] += 1
        try:
            value = call()
        except BaseException:
            _ended(row, started)
            self._failing[task_id] = name
            raise
        if type(value) is _CoroutineType:
            return self._awaited(task_id, name, started, value)  # type: ignore[arg-type, return-value]
        duration = _clock() - started
        row[_DURATION + bisect_left(DURATION_BUCKETS, duration)] += 1
        row[_DURATION_SUM] += duration
        row[_ENDED] += 1
        row[_SUCCEEDED] += 1
        return value

    async def _awaited(self, task_id: int, name: str, started: float, coro: Awaitable[T]) -> T:
        try:
            value = await coro
        except BaseException:
            _ended(self._row(name), started)
            self._failing[task_id] = name
            raise
        row = self._row(name)
        _ended(row, started)
        row[_SUCCEEDED] += 1
        return value

    def after_retry(self, task_id: int, error: RetryTask) -> None:
        name = self._failing.pop(task_id, None) or _running_name()
        self._row(name)[_RETRIED] += 1
        self._retrying[task_id] = name

    def after_failed(self, task_id: int, error: BaseException) -> None:
        name = self._failing.pop(task_id, None)
        retrying = self._retrying.pop(task_id, None)  # a retry cancelled before it ran
        name = name or retrying
        if name is None:
            queued = self._queued.pop(task_id, None)
            if queued is not None:  # cancelled before it started
                name = queued[0]
                self._row(name)[_DEQUEUED] += 1
            else:
                name = _running_name()
        row = self._row(name)
        if isinstance(error, TaskCancelled):
            row[_CANCELLED] += 1
        failed: dict[tuple[str, str], int] = self._local.failed
        key = (name, type(error).__name__)
        failed[key] = failed.get(key, 0) + 1

    def worker_stopped(self) -> None:
        if _multiprocess_dir() is not None:
            _writer.write()  # what a drain at exit ran is counted too


def _ended(row: list[float], started: float) -> None:
    duration = _clock() - started
    row[_DURATION + bisect_left(DURATION_BUCKETS, duration)] += 1
    row[_DURATION_SUM] += duration
    row[_ENDED] += 1


def _running_name() -> str:
    running = tasq.current_task()
    return "unknown" if running is None else running.name


# -- sums ---------------------------------------------------------------------------------


class _Sums:
    """Every instrumented engine's rows, added up."""

    def __init__(self, metrics: list[_Metrics]) -> None:
        totals: dict[tuple[str, str], list[float]] = {}
        self.failed: dict[tuple[str, str, str], int] = {}
        for each in metrics:
            with each._lock:
                tallies = list(each.tallies)
            for rows, failed in tallies:
                for name, row in list(rows.items()):
                    total = totals.get((each.engine, name))
                    if total is None:
                        totals[(each.engine, name)] = list(row)
                    else:
                        for index, value in enumerate(row):
                            total[index] += value
                for (name, exception), count in list(failed.items()):
                    key = (each.engine, name, exception)
                    self.failed[key] = self.failed.get(key, 0) + count
        self.rows = totals
        self.durations = {labels: row[_DURATION : _DURATION_SUM + 1] for labels, row in totals.items()}
        self.waits = {labels: row[_WAIT : _WAIT_SUM + 1] for labels, row in totals.items() if row[_DEQUEUED]}
        self.in_process = {each.engine for each in metrics if each.in_process}


def _buckets(counts: list[float], bounds: tuple[float, ...]) -> list[tuple[str, float]]:
    cumulative, buckets = 0.0, []
    for bound, count in zip((*bounds, float("inf")), counts[:-1], strict=True):
        cumulative += count
        buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
    return buckets


class _Collector(Collector):
    """Serves the sums to a registry in a single process (no ``PROMETHEUS_MULTIPROC_DIR``)."""

    def __init__(self) -> None:
        self.metrics: list[_Metrics] = []

    def collect(self) -> Iterable[Metric]:
        sums = _Sums(self.metrics)
        for metric_name, documentation, index in _COUNTERS:
            family = CounterMetricFamily(metric_name, documentation, labels=_LABELS)
            for labels, row in sums.rows.items():
                family.add_metric(labels, row[index])
            yield family
        failed = CounterMetricFamily(
            "tasq_tasks_failed_total", "Tasks that failed, by exception.", labels=(*_LABELS, "exception")
        )
        for (engine, name, exception), count in sums.failed.items():
            failed.add_metric((engine, name, exception), count)
        yield failed
        running = GaugeMetricFamily("tasq_tasks_in_progress", "Attempts running now.", labels=_LABELS)
        depth = GaugeMetricFamily("tasq_queue_depth", "Tasks accepted and not started yet.", labels=_LABELS)
        for labels, row in sums.rows.items():
            running.add_metric(labels, row[_STARTED] - row[_ENDED])
            if labels[0] in sums.in_process:
                depth.add_metric(labels, row[_ENQUEUED] - row[_DEQUEUED])
        yield running
        yield depth
        for metric_name, documentation, histograms, bounds in _histograms(sums):
            histogram = HistogramMetricFamily(metric_name, documentation, labels=_LABELS)
            for labels, counts in histograms.items():
                histogram.add_metric(labels, _buckets(counts, bounds), counts[-1])
            yield histogram


def _histograms(sums: _Sums) -> Iterator[tuple[str, str, dict[tuple[str, str], list[float]], tuple[float, ...]]]:
    yield "tasq_task_duration_seconds", "How long each attempt ran.", sums.durations, DURATION_BUCKETS
    yield "tasq_task_queue_wait_seconds", "How long tasks waited before their first attempt.", sums.waits, WAIT_BUCKETS


_collectors: weakref.WeakKeyDictionary[CollectorRegistry, _Collector] = weakref.WeakKeyDictionary()
_instrumented: weakref.WeakKeyDictionary[tasq.TasQ, _Metrics] = weakref.WeakKeyDictionary()


def instrument(engine: tasq.TasQ, registry: CollectorRegistry | None = None) -> None:
    """Count ``engine``'s tasks in the metrics of this module; before the engine starts.

    ``registry`` (default: prometheus_client's global ``REGISTRY``) is where a single process
    serves them; in multiprocess mode they go to ``PROMETHEUS_MULTIPROC_DIR`` instead.
    """
    if not isinstance(engine, tasq.TasQ):
        raise TypeError(f"instrument() needs a tasq.TasQ engine, not {type(engine).__name__}")
    if registry is not None and not isinstance(registry, CollectorRegistry):
        raise TypeError(f"registry must be a prometheus_client CollectorRegistry, not {type(registry).__name__}")
    if engine in _instrumented:
        raise ValueError(f"engine {engine.name!r} already has metrics")
    from tasq.backends.base import BrokerEngine

    metrics = _Metrics(engine, in_process=not isinstance(engine, BrokerEngine))
    engine.add_hooks(metrics)  # refuses a started engine, before anything else is changed
    _instrumented[engine] = metrics
    if _multiprocess_dir() is not None:
        _writer.add(metrics)
        return
    registry = REGISTRY if registry is None else registry
    collector = _collectors.get(registry)
    if collector is None:
        collector = _collectors[registry] = _Collector()
        registry.register(collector)
    collector.metrics.append(metrics)


def _multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


# -- multiprocess mode --------------------------------------------------------------------


class _Writer:
    """Writes this process's sums to prometheus_client's multiprocess files, as deltas."""

    def __init__(self) -> None:
        self.metrics: list[_Metrics] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._reset()

    def _reset(self) -> None:
        self._written: dict[tuple[str, ...], float] = {}
        self._families: dict[str, Any] | None = None

    def add(self, metrics: _Metrics) -> None:
        with self._lock:
            self.metrics.append(metrics)
        self._ensure_thread()

    def _ensure_thread(self) -> None:
        if self._pid == os.getpid() and self._thread is not None:
            return
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._every_interval, name="tasq-metrics-writer", daemon=True)
        self._thread.start()

    def after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        self._thread = None
        self._reset()
        for metrics in list(_instrumented.values()):
            metrics.reset()
        if self.metrics:
            self._ensure_thread()

    def _every_interval(self) -> None:
        while True:
            time.sleep(FLUSH_INTERVAL)
            self.write()

    def _metric_objects(self) -> dict[str, Any]:
        if self._families is None:
            families: dict[str, Any] = {}
            for metric_name, documentation, _ in _COUNTERS:
                families[metric_name] = Counter(metric_name, documentation, _LABELS, registry=None)
            families["failed"] = Counter(
                "tasq_tasks_failed_total", "Tasks that failed, by exception.", (*_LABELS, "exception"), registry=None
            )
            families["in_progress"] = Gauge(
                "tasq_tasks_in_progress", "Attempts running now.", _LABELS, registry=None, multiprocess_mode="livesum"
            )
            families["depth"] = Gauge(
                "tasq_queue_depth", "Tasks accepted and not started yet.", _LABELS, registry=None,
                multiprocess_mode="livesum",
            )  # fmt: skip
            families["durations"] = Histogram(
                "tasq_task_duration_seconds", "How long each attempt ran.", _LABELS, registry=None,
                buckets=DURATION_BUCKETS,
            )  # fmt: skip
            families["waits"] = Histogram(
                "tasq_task_queue_wait_seconds", "How long tasks waited before their first attempt.", _LABELS,
                registry=None, buckets=WAIT_BUCKETS,
            )  # fmt: skip
            self._families = families
        return self._families

    def write(self) -> None:
        with self._lock:
            if not self.metrics:
                return
            families = self._metric_objects()
            sums = _Sums(self.metrics)
            for labels, row in sums.rows.items():
                for metric_name, _, index in _COUNTERS:
                    self._inc(families[metric_name], (metric_name, *labels), labels, row[index])
                families["in_progress"].labels(*labels).set(row[_STARTED] - row[_ENDED])
                if labels[0] in sums.in_process:
                    families["depth"].labels(*labels).set(row[_ENQUEUED] - row[_DEQUEUED])
            for labels3, count in sums.failed.items():
                self._inc(families["failed"], ("failed", *labels3), labels3, count)
            for key, histograms in (("durations", sums.durations), ("waits", sums.waits)):
                for labels, counts in histograms.items():
                    child = families[key].labels(*labels)
                    # prometheus_client has no public call that adds n observations at once:
                    # its children keep one value per bucket and one for the sum.
                    for index, share in enumerate(counts[:-1]):
                        self._add_value(child._buckets[index], (key, *labels, str(index)), share)
                    self._add_value(child._sum, (key, *labels, "sum"), counts[-1])

    def _inc(self, family: Any, key: tuple[str, ...], labels: tuple[str, ...], total: float) -> None:
        delta = total - self._written.get(key, 0)
        if delta:
            family.labels(*labels).inc(delta)
            self._written[key] = total

    def _add_value(self, value: Any, key: tuple[str, ...], total: float) -> None:
        delta = total - self._written.get(key, 0)
        if delta:
            value.inc(delta)
            self._written[key] = total


_writer = _Writer()
os.register_at_fork(after_in_child=_writer.after_fork_in_child)


def flush() -> None:
    """Write this process's counts now (multiprocess mode; otherwise there is nothing to do)."""
    _writer.write()


def _at_exit() -> None:
    if not _writer.metrics or _multiprocess_dir() is None:
        return
    _writer.write()
    _multiprocess.mark_process_dead(  # type: ignore[no-untyped-call]
        os.getpid()
    )


atexit.register(_at_exit)


def child_exit(server: object, worker: Any) -> None:
    """gunicorn's ``child_exit`` server hook, for a gunicorn config file: a worker that died
    without its own exit (SIGKILL) leaves no live gauges behind."""
    if _multiprocess_dir() is not None:
        _multiprocess.mark_process_dead(  # type: ignore[no-untyped-call]
            worker.pid
        )


# -- serving ------------------------------------------------------------------------------


def scrape(registry: CollectorRegistry | None = None) -> bytes:
    """The text a ``/metrics`` endpoint answers: every process's sums in multiprocess mode."""
    if _multiprocess_dir() is not None:
        _writer.write()
        collected = CollectorRegistry()
        _multiprocess.MultiProcessCollector(collected)  # type: ignore[no-untyped-call]
        return generate_latest(collected)
    return generate_latest(REGISTRY if registry is None else registry)


WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def wsgi_app(registry: CollectorRegistry | None = None) -> WSGIApp:
    """A WSGI app that serves ``scrape()`` to GET and HEAD."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD"), ("Content-Length", "0")])
            return [b""]
        body = scrape(registry)
        start_response("200 OK", [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body)))])
        return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

    return app


ASGIApp = Callable[[dict[str, Any], Callable[..., Any], Callable[..., Any]], Any]


def asgi_app(registry: CollectorRegistry | None = None) -> ASGIApp:
    """An ASGI app that serves ``scrape()``: ``app.mount("/metrics", asgi_app())``."""
    import asyncio

    async def app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            return
        if scope.get("method") not in ("GET", "HEAD"):
            await send({"type": "http.response.start", "status": 405, "headers": [(b"allow", b"GET, HEAD")]})
            await send({"type": "http.response.body", "body": b""})
            return
        body = await asyncio.to_thread(scrape, registry)
        headers = [(b"content-type", CONTENT_TYPE.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body})

    return app
