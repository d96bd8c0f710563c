"""Serving the sums: to a registry in one process, or to prometheus_client's multiprocess files."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from .counting import (
    COUNTERS,
    DURATION_BUCKETS,
    LABELS,
    WAIT_BUCKETS,
    Metrics,
    Sums,
    buckets,
    in_progress,
    queue_depth,
)  # fmt: skip

__all__ = ["FLUSH_INTERVAL", "RegistryCollector", "Writer"]

logger = logging.getLogger("tasq")

FLUSH_INTERVAL = 1.0  # seconds between two writes of a process's sums in multiprocess mode


class RegistryCollector(Collector):
    """Serves the sums to a registry in a single process (no ``PROMETHEUS_MULTIPROC_DIR``)."""

    def __init__(self) -> None:
        self.metrics: list[Metrics] = []

    def collect(self) -> Iterable[Metric]:
        sums = Sums(self.metrics)
        for metric_name, documentation, index in COUNTERS:
            family = CounterMetricFamily(metric_name, documentation, labels=LABELS)
            for labels, row in sums.rows.items():
                family.add_metric(labels, row[index])
            yield family
        failed = CounterMetricFamily(
            "tasq_tasks_failed_total", "Tasks that failed, by exception.", labels=(*LABELS, "exception")
        )
        for (engine, name, exception), count in sums.failed.items():
            failed.add_metric((engine, name, exception), count)
        yield failed
        running = GaugeMetricFamily("tasq_tasks_in_progress", "Attempts running now.", labels=LABELS)
        depth = GaugeMetricFamily("tasq_queue_depth", "Tasks accepted and not started yet.", labels=LABELS)
        for labels, row in sums.rows.items():
            running.add_metric(labels, in_progress(row))
            if labels[0] in sums.in_process:
                depth.add_metric(labels, queue_depth(row))
        yield running
        yield depth
        for metric_name, documentation, histograms, bounds in _histograms(sums):
            histogram = HistogramMetricFamily(metric_name, documentation, labels=LABELS)
            for labels, counts in histograms.items():
                histogram.add_metric(labels, buckets(counts, bounds), counts[-1])
            yield histogram


def _histograms(sums: Sums) -> Iterator[tuple[str, str, dict[tuple[str, str], list[float]], tuple[float, ...]]]:
    yield "tasq_task_duration_seconds", "How long each attempt ran.", sums.durations, DURATION_BUCKETS
    yield "tasq_task_queue_wait_seconds", "How long tasks waited before their first attempt.", sums.waits, WAIT_BUCKETS


class Writer:
    """Writes this process's sums to prometheus_client's multiprocess files, as deltas."""

    def __init__(self) -> None:
        self.metrics: list[Metrics] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._reset()

    def _reset(self) -> None:
        self._written: dict[tuple[str, ...], float] = {}
        self._families: dict[str, Any] | None = None

    def add(self, metrics: Metrics) -> None:
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
        for metrics in self.metrics:
            metrics.reset()
        if self.metrics:
            self._ensure_thread()

    def _every_interval(self) -> None:
        while True:
            time.sleep(FLUSH_INTERVAL)
            try:
                self.write()
            except Exception:  # the directory went away, the disk is full: try again next time
                logger.exception("could not write the metrics to PROMETHEUS_MULTIPROC_DIR", extra={"task_id": None})

    def _metric_objects(self) -> dict[str, Any]:
        if self._families is None:
            families: dict[str, Any] = {}
            for metric_name, documentation, _ in COUNTERS:
                families[metric_name] = Counter(metric_name, documentation, LABELS, registry=None)
            families["failed"] = Counter(
                "tasq_tasks_failed_total", "Tasks that failed, by exception.", (*LABELS, "exception"), registry=None
            )
            families["in_progress"] = Gauge(
                "tasq_tasks_in_progress", "Attempts running now.", LABELS, registry=None, multiprocess_mode="livesum"
            )
            families["depth"] = Gauge(
                "tasq_queue_depth", "Tasks accepted and not started yet.", LABELS, registry=None,
                multiprocess_mode="livesum",
            )  # fmt: skip
            families["durations"] = Histogram(
                "tasq_task_duration_seconds", "How long each attempt ran.", LABELS, registry=None,
                buckets=DURATION_BUCKETS,
            )  # fmt: skip
            families["waits"] = Histogram(
                "tasq_task_queue_wait_seconds", "How long tasks waited before their first attempt.", LABELS,
                registry=None, buckets=WAIT_BUCKETS,
            )  # fmt: skip
            self._families = families
        return self._families

    def write(self) -> None:
        with self._lock:
            if not self.metrics:
                return
            families = self._metric_objects()
            sums = Sums(self.metrics)
            for labels, row in sums.rows.items():
                for metric_name, _, index in COUNTERS:
                    self._inc(families[metric_name], (metric_name, *labels), labels, row[index])
                families["in_progress"].labels(*labels).set(in_progress(row))
                if labels[0] in sums.in_process:
                    families["depth"].labels(*labels).set(queue_depth(row))
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
