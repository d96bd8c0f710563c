"""What the thread engine can tell: how many tasks are outstanding, ``join``, ``stats``, ``result``.

Each worker counts its outcomes in a list of its own (no lock on the hot path); the others
(eager callers, the loop thread, close) count in ``_shared_counts`` under the lock. The
number enqueued is read from the id counter itself.
"""

from __future__ import annotations

import itertools
import threading
import time

from ..checks import check_seconds
from ..hooks import CANCELLED, DONE, FAILED, RETRIED
from ..task import Stats, TaskResult
from .entry import Entry
from .listing import Waiting, pending
from .results import ResultStore
from .wakeups import Waiters

__all__ = ["Accounting"]


class Accounting:
    """``join``, ``stats``, ``running_ids`` and ``result`` of the thread engine."""

    __slots__ = ()

    # Made by ThreadEngine._reset_runtime.
    _detached: dict[int, Entry]
    _first_id: int
    _ids: itertools.count[int]
    _joined: Waiters
    _joiners: list[threading.Lock]  # _joined.waiting: not empty while a join() waits
    _lock: threading.RLock
    _results: ResultStore | None
    _shared_counts: list[int]
    _slots: list[int]
    _started: list[float]
    _threads: list[threading.Thread]
    _worker_counts: list[list[int]]

    def join(self, timeout: float | None = None) -> bool:
        """Wait until every accepted task has finished and been reported; True if so."""
        if timeout is not None:
            timeout = check_seconds("timeout", timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        return self._joined.wait_for(self._all_reported, deadline)

    def _all_reported(self) -> bool:
        return self._outstanding() <= 0

    def _notify_joiners(self) -> None:
        if self._outstanding() <= 0:
            self._joined.wake_all()

    def _totals(self) -> list[int]:
        with self._lock:
            totals = list(self._shared_counts)
            for counts in self._worker_counts:
                for slot in range(4):
                    totals[slot] += counts[slot]
        return totals

    def _enqueued(self) -> int:
        # itertools.count is the lock-free id source; its repr is "count(<next id>)".
        return int(repr(self._ids)[6:-1]) - self._first_id

    def _outstanding(self) -> int:
        totals = self._totals()
        return self._enqueued() - totals[DONE] - totals[FAILED]

    def running_ids(self) -> list[int]:
        """The ids of the tasks running right now."""
        return sorted([task_id for task_id in self._slots if task_id] + list(self._detached))

    def pending(self, limit: int | None = None) -> list[Waiting]:
        """``(task_id, call, run_at)`` of the tasks delayed, waiting for a retry or queued with a
        priority, lowest id first (see listing.py); ``run_at`` is a ``time.time()`` stamp or None."""
        return pending(self, limit)  # type: ignore[arg-type]  # self is a ThreadEngine

    def stats(self) -> Stats:
        totals = self._totals()
        enqueued = self._enqueued()
        running = sum(1 for task_id in self._slots if task_id) + len(self._detached)
        return Stats(
            enqueued=enqueued,
            pending=max(0, enqueued - totals[DONE] - totals[FAILED] - running),
            running=running,
            done=totals[DONE],
            failed=totals[FAILED],
            retried=totals[RETRIED],
            cancelled=totals[CANCELLED],
            workers=sum(1 for thread in self._threads if thread.is_alive()),
        )

    def result(self, task_id: int) -> TaskResult | None:
        """What is known of a task when ``results`` keeps it: pending, running or recent."""
        if self._results is None:
            return None
        since = None
        slots = self._slots
        if task_id in slots:
            try:
                index = slots.index(task_id)
                since = self._started[index]
                if slots[index] != task_id:  # it finished meanwhile: the record says so
                    since = None
            except ValueError:
                pass
        running = since is not None or task_id in self._detached
        return self._results.get(task_id, since, running)
