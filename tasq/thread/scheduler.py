from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Scheduler"]

T = TypeVar("T")
_LONGEST_WAIT = 3600.0  # a delay of years passes validation; no wait may overflow a lock


class Scheduler(Generic[T]):
    """One thread that hands delayed entries to ``on_due`` when they fall due.

    The thread starts with the first entry after ``enable()``, so an engine that never
    delays anything never runs it, and one that has not started runs no thread.
    """

    def __init__(self, on_due: Callable[[T], None], name: str) -> None:
        self._on_due = on_due
        self._name = name
        # Taken as the plain lock, not through the condition: a C lock's ``with`` leaves no
        # point between the acquire and the block where an exception from a signal handler
        # could land and leave it held (a Condition's ``__enter__`` is Python code).
        # Re-entrant: see ThreadEngine._lock. The thread waits on the condition.
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._heap: list[tuple[float, int, T]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._enabled = False
        self._stopped = False

    def schedule(self, due: float, entry: T) -> bool:
        """Hand ``entry`` to ``on_due`` at ``time.monotonic() >= due``; False once stopped."""
        with self._lock:
            if self._stopped:
                return False
            heapq.heappush(self._heap, (due, next(self._seq), entry))
            if self._thread is None:
                self._start_thread()
            elif self._heap[0][2] is entry:
                self._cond.notify()
        return True

    def enable(self) -> None:
        """Allow the thread to run (the engine has started)."""
        with self._lock:
            self._enabled = True
            if self._thread is None and self._heap:
                self._start_thread()

    def _start_thread(self) -> None:
        if self._enabled and not self._stopped:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def stop(self) -> list[T]:
        """Stop the thread and return the entries that were not yet due."""
        with self._lock:
            self._stopped = True
            left = [entry for _, _, entry in sorted(self._heap)]
            self._heap.clear()
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        return left

    def withdraw(self, match: Callable[[T], bool], otherwise: Callable[[], T | None]) -> T | None:
        """Take out the first entry ``match`` accepts; if there is none, ``otherwise()``,
        called while no entry can fall due (the timer hands entries on under this lock)."""
        with self._lock:
            for index, (_, _, entry) in enumerate(self._heap):
                if match(entry):
                    self._heap[index] = self._heap[-1]
                    self._heap.pop()
                    heapq.heapify(self._heap)
                    return entry
            return otherwise()

    def _run(self) -> None:
        cond, heap = self._cond, self._heap
        while True:
            with self._lock:
                while not self._stopped:
                    if heap:
                        wait = heap[0][0] - time.monotonic()
                        if wait <= 0:
                            break
                        cond.wait(min(wait, _LONGEST_WAIT))  # a far delay: wake, look again
                    else:
                        cond.wait()
                if self._stopped:
                    return
                # Handed on under the lock: withdraw() finds it here or where it went.
                self._on_due(heapq.heappop(heap)[2])
