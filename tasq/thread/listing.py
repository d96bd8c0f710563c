"""What the thread engine holds that has not started: ``pending()``, read for a dashboard.

A task waits in one of three places: the scheduler's heap (delayed, or waiting for a retry
after a delay), the priority heap, or the ready queue. The first two are read under their
locks, as they are; the ready queue is a ``SimpleQueue``, which cannot be read without taking
its entries out, so its tasks are not listed: they are the ones drawn next, and a dashboard
learns their call when they start. Nothing here runs unless someone asks: the hot path is
untouched.
"""

from __future__ import annotations

import heapq
import time
from typing import TYPE_CHECKING

from .entry import Call, Entry

if TYPE_CHECKING:
    from .engine import ThreadEngine

__all__ = ["Waiting", "pending"]

# (task_id, call, run_at): run_at is a time.time() stamp for a task not due yet, else None.
Waiting = tuple[int, Call, "float | None"]


def pending(engine: ThreadEngine, limit: int | None = None) -> list[Waiting]:
    """The tasks in the scheduler's heap and the priority heap, lowest id first; at most ``limit``."""
    scheduler = engine._scheduler
    # Each lock is held for a copy of a list, no longer: the timer and the workers wait on them.
    with scheduler._cond:
        scheduled = list(scheduler._heap)
    with engine._lock:
        prioritized = list(engine._heap)
    # Monotonic due times told as wall-clock stamps, with one reading of each clock.
    offset = time.time() - time.monotonic()
    if limit is not None:
        scheduled = heapq.nsmallest(limit, scheduled, key=_scheduled_id)
        prioritized = heapq.nsmallest(limit, prioritized, key=_prioritized_id)
    listed: list[Waiting] = [(entry[0], entry[1], due + offset) for due, _, entry in scheduled]
    listed.extend((task_id, entry[1], None) for _, task_id, entry in prioritized)
    listed.sort(key=_task_id)
    return listed if limit is None else listed[:limit]


def _scheduled_id(item: tuple[float, int, Entry]) -> int:
    return item[2][0]


def _prioritized_id(item: tuple[int, int, Entry]) -> int:
    return item[1]


def _task_id(waiting: Waiting) -> int:
    return waiting[0]
