"""Counts and enqueue -> done latency of this process's tasks, from TasQ's Django signals."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from tasq import TaskCancelled


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts = dict.fromkeys(("enqueued", "done", "failed", "retried", "cancelled"), 0)
        self.enqueued_at: dict[int, float] = {}
        self.latencies: deque[float] = deque(maxlen=100_000)

    def enqueued(self, task_id: int, **kwargs: Any) -> None:
        with self.lock:
            self.counts["enqueued"] += 1
            self.enqueued_at[task_id] = time.perf_counter()

    def retried(self, task_id: int, **kwargs: Any) -> None:
        with self.lock:
            self.counts["retried"] += 1

    def done(self, task_id: int, **kwargs: Any) -> None:
        now = time.perf_counter()
        with self.lock:
            self.counts["done"] += 1
            started = self.enqueued_at.pop(task_id, None)
            if started is not None:
                self.latencies.append((now - started) * 1000)

    def failed(self, task_id: int, error: BaseException, **kwargs: Any) -> None:
        with self.lock:
            self.counts["failed"] += 1  # cancelled tasks are failures too
            if isinstance(error, TaskCancelled):
                self.counts["cancelled"] += 1
            self.enqueued_at.pop(task_id, None)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            latencies = sorted(self.latencies)
            counts = dict(self.counts)

        def percentile(fraction: float) -> float:
            return round(latencies[min(len(latencies) - 1, int(fraction * len(latencies)))], 3) if latencies else 0.0

        return {**counts, "latency_ms": {"p50": percentile(0.5), "p99": percentile(0.99)}}


STATS = Stats()
