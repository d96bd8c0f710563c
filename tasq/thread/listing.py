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

from .entry import Call

if TYPE_CHECKING:
    from .engine import ThreadEngine

__all__ = ["Waiting", "pending"]

# (task_id, call, run_at): run_at is a time.time() stamp for a task not due yet, else None.
Waiting = tuple[int, Call, "float | None"]


def pending(engine: ThreadEngine, limit: int | None = None) -> list[Waiting]:
    """The tasks in the scheduler's heap and the priority heap, lowest id first; at most ``limit``."""
    scheduler = engine._scheduler
    with scheduler._cond:
        scheduled = [(due, entry[0], entry[1]) for due, _, entry in scheduler._heap]
    with engine._lock:
        prioritized = [(task_id, entry[1]) for _, task_id, entry in engine._heap]
    # Monotonic due times told as wall-clock stamps, with one reading of each clock.
    offset = time.time() - time.monotonic()
    listed: list[Waiting] = [(task_id, call, due + offset) for due, task_id, call in scheduled]
    listed.extend((task_id, call, None) for task_id, call in prioritized)
    if limit is None:
        return sorted(listed, key=_task_id)
    return heapq.nsmallest(limit, listed, key=_task_id)


def _task_id(waiting: Waiting) -> int:
    return waiting[0]
