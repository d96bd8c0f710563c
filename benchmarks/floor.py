"""The floor: the least a thread pool with ids, retries and a done-callback can do.

Every ratio in the engine benchmark is measured against this pool. It has what the
seed's Go library has and nothing more: one ``SimpleQueue``, ``workers`` threads, an id
per task, ``RetryTask`` retried up to ``max_retry`` calls, and ``on_done(id)``.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from queue import SimpleQueue

from tasq import RetryTask


class FloorPool:
    def __init__(self, workers: int = 10, max_retry: int = 3, on_done: Callable[[int], object] | None = None) -> None:
        self.max_retry = max_retry
        self.on_done = on_done
        self._queue: SimpleQueue[tuple[int, Callable[[], object], int] | None] = SimpleQueue()
        self._ids = itertools.count(1)
        self._threads = [threading.Thread(target=self._work, daemon=True) for _ in range(workers)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def enqueue(self, fn: Callable[[], object]) -> int:
        tid = next(self._ids)
        self._queue.put((tid, fn, 1))
        return tid

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            if thread.is_alive():
                thread.join()

    def _work(self) -> None:
        get, on_done = self._queue.get, self.on_done
        while (item := get()) is not None:
            tid, fn, attempt = item
            try:
                fn()
            except RetryTask:
                if attempt < self.max_retry:
                    self._queue.put((tid, fn, attempt + 1))
                continue
            except Exception:  # a failing task must not end its worker
                continue
            if on_done is not None:
                on_done(tid)


class RecordingFloorPool(FloorPool):
    """The floor plus the least a result store can do per task: the time it was enqueued,
    started and finished (three clock reads), one record per id written over its enqueue
    time, and the oldest dropped beyond ``size``. What ``results=N`` costs cannot go below it."""

    def __init__(
        self, workers: int = 10, max_retry: int = 3, on_done: Callable[[int], object] | None = None, size: int = 10_000
    ) -> None:
        super().__init__(workers, max_retry, on_done)
        self.size = size
        self._records: dict[int, object] = {}
        self._order: deque[int] = deque()

    def enqueue(self, fn: Callable[[], object]) -> int:
        tid = next(self._ids)
        self._records[tid] = time.time()
        self._queue.put((tid, fn, 1))
        return tid

    def _work(self) -> None:
        get, on_done, records, order, size, now = (
            self._queue.get,
            self.on_done,
            self._records,
            self._order,
            self.size,
            time.time,
        )
        while (item := get()) is not None:
            tid, fn, attempt = item
            started = now()
            try:
                value = fn()
            except RetryTask:
                if attempt < self.max_retry:
                    self._queue.put((tid, fn, attempt + 1))
                continue
            except Exception:  # a failing task must not end its worker
                continue
            records[tid] = (value, records[tid], started, now())
            order.append(tid)
            if len(order) > size:
                del records[order.popleft()]
            if on_done is not None:
                on_done(tid)
