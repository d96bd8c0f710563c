"""Task statistics for GET /stats, computed from TasQ's Flask signals.

The numbers are those of this process: each gunicorn worker runs its own pool. Send them
to Prometheus or StatsD from the same receivers.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from flask import Flask

from tasq import TaskCancelled
from tasq.contrib.flask import task_done, task_enqueued, task_failed, task_retried


class TaskStats:
    def __init__(self, app: Flask) -> None:
        self._lock = threading.Lock()
        self.counts = dict.fromkeys(("enqueued", "done", "failed", "retried", "cancelled"), 0)
        self._enqueued_at: dict[int, float] = {}
        self._latencies: deque[float] = deque(maxlen=10_000)
        # sender=app: only this app's tasks (one process may serve several apps).
        task_enqueued.connect(self.enqueued, sender=app)
        task_retried.connect(self.retried, sender=app)
        task_done.connect(self.done, sender=app)
        task_failed.connect(self.failed, sender=app)

    def enqueued(self, app: Flask, task_id: int) -> None:
        with self._lock:
            self.counts["enqueued"] += 1
            self._enqueued_at[task_id] = time.perf_counter()

    def retried(self, app: Flask, task_id: int, error: BaseException) -> None:
        with self._lock:
            self.counts["retried"] += 1

    def done(self, app: Flask, task_id: int) -> None:
        finished = time.perf_counter()
        with self._lock:
            self.counts["done"] += 1
            self._latencies.append(finished - self._enqueued_at.pop(task_id, finished))

    def failed(self, app: Flask, task_id: int, error: BaseException) -> None:
        with self._lock:
            self.counts["failed"] += 1  # cancelled tasks are failures too, with TaskCancelled
            self.counts["cancelled"] += isinstance(error, TaskCancelled)
            self._enqueued_at.pop(task_id, None)

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            latencies = sorted(self._latencies)
            counts = dict(self.counts)

        def percentile(fraction: float) -> float:
            if not latencies:
                return 0.0
            return round(latencies[min(len(latencies) - 1, int(fraction * len(latencies)))] * 1000, 2)

        return {**counts, "latency_ms": {"p50": percentile(0.5), "p99": percentile(0.99)}}
