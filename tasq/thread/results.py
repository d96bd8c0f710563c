from __future__ import annotations

import time
from collections import deque
from typing import Any

from ..task import TaskResult, TaskStatus, utc
from .entry import Entry

__all__ = ["ResultStore"]

# A finished record is one of two tuples. A plain first attempt that succeeded, recorded by
# the worker loop itself: (return_value, enqueued_at, started_at, finished_at). Any other:
# (done, attempts, return_value, error, enqueued_at, started_at, finished_at), and for a
# failed task its entry last (what ``retry`` enqueues again). ``done`` is a bool rather
# than a TaskStatus: a record of ints, floats and None is one the garbage collector stops
# tracking, where an enum member kept every record tracked.
_Done = tuple[object, float, float, float]
_Finished = tuple[bool, int, object, "BaseException | None", float, "float | None", float]
_DONE_FIRST = 4  # the length of a plain first attempt's record


class ResultStore:
    """What ``TasQ.result()`` answers from: live tasks, and the last ``size`` finished.

    One dict per task id: its ``enqueued_at`` while it is pending or running, then its
    finished record, written over the same key, so finishing a task pops nothing and adds
    no key. Start times of first attempts on the hot path are kept by the engine, one per
    worker; ``started_at`` holds the others. No lock: single dict and deque operations are
    atomic, and finished records are written once.

    The API: ``enqueued`` → ``started`` → ``finished``. The hot paths write the store
    themselves, one clock read per transition and no call: ``ThreadEngine.enqueue`` puts
    ``time.time()`` in ``_records``, and the recording worker loop writes a plain first
    attempt's record and counts it as ``keep`` does (see ``workers.loop_recording``); it
    says ``started_first`` when it hands an attempt it timed itself to the general path.
    """

    __slots__ = ("_attempts", "_order", "_records", "_size", "_started_at")

    def __init__(self, size: int) -> None:
        self._size = size
        self._records: dict[int, float | _Done | _Finished] = {}
        self._started_at: dict[int, float] = {}
        self._attempts: dict[int, int] = {}  # only past the first attempt
        self._order: deque[int] = deque()

    def enqueued(self, task_id: int) -> None:
        self._records[task_id] = time.time()

    def started_first(self, task_id: int, started_at: float) -> None:
        """A first attempt started at ``started_at`` (a worker loop took the time itself)."""
        self._started_at[task_id] = started_at

    def started(self, task_id: int, attempt: int) -> None:
        if attempt == 1:
            self._started_at[task_id] = time.time()
        else:
            self._attempts[task_id] = attempt

    def finished(
        self,
        task_id: int,
        status: TaskStatus,
        attempts: int,
        value: object,
        error: BaseException | None,
        entry: Entry | None = None,
    ) -> None:
        now = time.time()
        enqueued_at = self._records.get(task_id, now)
        if type(enqueued_at) is not float:  # finished twice: keep the first record
            return
        started_at = self._started_at.pop(task_id, None)
        if attempts > 1:
            self._attempts.pop(task_id, None)
        done = status is TaskStatus.DONE
        record = (done, attempts, value, error, enqueued_at, started_at, now)
        self._records[task_id] = record if done or entry is None else (*record, entry)  # type: ignore[assignment]
        self.keep(task_id)

    def failed_entry(self, task_id: int) -> Entry | str:
        """The entry a failed task ran as; else why there is none (a str)."""
        record = self._records.get(task_id)
        if record is None:
            return f"task {task_id} is not known (results keeps the last {self._size} finished tasks)"
        if not isinstance(record, tuple):
            return f"task {task_id} has not finished"
        if len(record) == _DONE_FIRST or record[0]:
            return f"task {task_id} succeeded; only a failed task can be retried"
        kept: tuple[Any, ...] = record  # a failed record carries its entry last
        if len(kept) < 8:
            return f"task {task_id} failed but its call was not kept"
        entry: Entry = kept[7]
        return entry

    def keep(self, task_id: int) -> None:
        """Count a finished record, dropping the oldest beyond ``size``."""
        order = self._order
        order.append(task_id)
        if len(order) > self._size:
            try:
                del self._records[order.popleft()]
            except (IndexError, KeyError):  # another worker dropped the oldest first
                pass

    def get(self, task_id: int, running_since: float | None, running: bool) -> TaskResult | None:
        record = self._records.get(task_id)
        if record is None:
            return None
        if isinstance(record, tuple):
            kept: tuple[Any, ...] = record
            if len(kept) == _DONE_FIRST:
                value, enqueued_at, started_at, finished_at = kept
                done, attempts, error = True, 1, None
            else:
                done, attempts, value, error, enqueued_at, started_at, finished_at = kept[:7]
            return TaskResult(
                id=task_id,
                status=TaskStatus.DONE if done else TaskStatus.FAILED,
                attempts=attempts,
                return_value=value,
                error=error,
                enqueued_at=utc(enqueued_at),
                started_at=None if started_at is None else utc(started_at),
                finished_at=utc(finished_at),
            )
        started_at = self._started_at.get(task_id, running_since)
        attempts = self._attempts.get(task_id, 0 if started_at is None else 1)
        return TaskResult(
            id=task_id,
            status=TaskStatus.RUNNING if running or running_since is not None else TaskStatus.PENDING,
            attempts=attempts,
            return_value=None,
            error=None,
            enqueued_at=utc(record),
            started_at=None if started_at is None else utc(started_at),
            finished_at=None,
        )

    def pending(self) -> int:
        """Tasks recorded and not finished (for tests: nothing live is left behind)."""
        return len(self._records) - len(self._order) + len(self._started_at)

    def __len__(self) -> int:
        return len(self._order)
