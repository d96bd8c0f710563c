from __future__ import annotations

import time
from collections import deque
from datetime import UTC, datetime

from .task import TaskResult, TaskStatus

__all__ = ["ResultStore"]

# (status, attempts, return_value, error, enqueued_at, started_at, finished_at)
_Finished = tuple[TaskStatus, int, object, "BaseException | None", float, "float | None", float]


class ResultStore:
    """What ``TasQ.result()`` answers from: live tasks, and the last ``size`` finished.

    Only plain dicts of ids and floats per live task, so keeping results adds no object
    for the garbage collector to chase per pending task. No lock: single dict and deque
    operations are atomic, and finished records are written once. The engine's hot loop
    writes ``enqueued_at`` and ``started_at`` itself.
    """

    __slots__ = ("_attempts", "_finished", "_order", "_size", "enqueued_at", "started_at")

    def __init__(self, size: int) -> None:
        self._size = size
        self.enqueued_at: dict[int, float] = {}
        self.started_at: dict[int, float] = {}
        self._attempts: dict[int, int] = {}  # only past the first attempt
        self._finished: dict[int, _Finished] = {}
        self._order: deque[int] = deque()

    def enqueued(self, task_id: int) -> None:
        self.enqueued_at[task_id] = time.time()

    def started(self, task_id: int, attempt: int) -> None:
        if attempt == 1:
            self.started_at[task_id] = time.time()
        else:
            self._attempts[task_id] = attempt

    def finished(
        self, task_id: int, status: TaskStatus, attempts: int, value: object, error: BaseException | None
    ) -> None:
        now = time.time()
        enqueued_at = self.enqueued_at.pop(task_id, now)
        started_at = self.started_at.pop(task_id, None)
        if attempts > 1:
            self._attempts.pop(task_id, None)
        self._finished[task_id] = (status, attempts, value, error, enqueued_at, started_at, now)
        order = self._order
        order.append(task_id)
        if len(order) > self._size:
            try:
                self._finished.pop(order.popleft(), None)
            except IndexError:  # another worker dropped the oldest first
                pass

    def get(self, task_id: int, running: bool) -> TaskResult | None:
        record = self._finished.get(task_id)
        if record is not None:
            status, attempts, value, error, enqueued_at, started_at, finished_at = record
            return TaskResult(
                id=task_id,
                status=status,
                attempts=attempts,
                return_value=value,
                error=error,
                enqueued_at=_utc(enqueued_at),
                started_at=None if started_at is None else _utc(started_at),
                finished_at=_utc(finished_at),
            )
        if task_id not in self.enqueued_at:
            return None
        enqueued_at = self.enqueued_at[task_id]
        started_at = self.started_at.get(task_id)
        attempts = self._attempts.get(task_id, 0 if started_at is None else 1)
        return TaskResult(
            id=task_id,
            status=TaskStatus.RUNNING if running else TaskStatus.PENDING,
            attempts=attempts,
            return_value=None,
            error=None,
            enqueued_at=_utc(enqueued_at),
            started_at=None if started_at is None else _utc(started_at),
            finished_at=None,
        )

    def __len__(self) -> int:
        return len(self._finished)


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)
