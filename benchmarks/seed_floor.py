"""The seed's design in Python: the floor of the seed's own three benchmarks.

One ``SimpleQueue`` of ``Task`` objects, ``workers`` threads, an id per task, ``do()``
called again in place while it raises ``RetryTask`` (up to ``max_retry`` calls), and the
two callbacks: ``on_done(id)``, ``on_failed(id, error)``.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any

from tasq import MaxRetryExceeded, RetryTask


class SeedPool:
    def __init__(
        self,
        workers: int = 10,
        max_retry: int = 3,
        on_done: Callable[[int], object] | None = None,
        on_failed: Callable[[int, BaseException], object] | None = None,
    ) -> None:
        self.max_retry = max_retry
        self.on_done = on_done
        self.on_failed = on_failed
        self._queue: SimpleQueue[tuple[int, Any] | None] = SimpleQueue()
        self._ids = itertools.count(1)
        self._threads = [threading.Thread(target=self._work, daemon=True) for _ in range(workers)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def enqueue(self, task: Any) -> int:
        task_id = next(self._ids)
        self._queue.put((task_id, task))
        return task_id

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()

    def _work(self) -> None:
        get, max_retry = self._queue.get, self.max_retry
        while (item := get()) is not None:
            task_id, task = item
            error: BaseException | None = None
            for _ in range(max_retry):  # the seed's in-place retry loop
                try:
                    task.do()
                except RetryTask as retry:
                    error = retry
                    continue
                except Exception as failure:
                    error = failure
                else:
                    error = None
                break
            else:
                error = MaxRetryExceeded(f"task {task_id} asked for a retry {max_retry} times")
            if error is None:
                if self.on_done is not None:
                    self.on_done(task_id)
            elif self.on_failed is not None:
                self.on_failed(task_id, error)
