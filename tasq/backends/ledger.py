"""Where a distributed engine keeps its accounts: ids, status records, what is outstanding.

A ledger answers the questions the engine API asks across processes: a new id, is this
delivery a repeat of a task that already finished (then it is skipped, so a redelivered
message is not reported twice), ``result(id)``, and how many of one engine's tasks are
still outstanding (``join()``). Three kinds:

- ``RedisLedger`` (``redis_ledger.py``): ids from ``INCR``, one hash per live task, each
  transition one Lua script (atomic, one round trip). Finished records are deleted, or
  with ``results=N`` the last N are kept, as in the thread engine.
- ``LocalLedger``: the same in memory, for the in-memory broker and eager mode.
- ``NullLedger``: a broker with no store beside it (RabbitMQ): time-ordered ids only.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Collection
from typing import Any, Protocol

from ..exceptions import TasQError
from ..task import TaskResult, TaskStatus, utc
from .ids import snowflake
from .payload import TaskMessage

__all__ = ["CANCELLED", "RUN", "SKIP", "KeptCall", "Ledger", "LocalLedger", "NullLedger", "RemoteTaskError"]

# What ``started`` answers: run the attempt, skip it (it finished: a redelivery), or report
# it cancelled (``cancel`` marked it before any attempt started).
SKIP, RUN, CANCELLED = 0, 1, 2
# A failed task's call as ``retry`` finds it: (name, args, kwargs), or why there is none.
KeptCall = tuple[str, list[Any], dict[str, Any]] | str

# Live records outlive the longest delay a broker accepts (Dramatiq: 7 days).
RECORD_TTL = 7 * 24 * 3600


class RemoteTaskError(TasQError):
    """A task failed in another process: its error's type name, message and traceback."""

    def __init__(self, type_name: str, message: str, traceback: str = "") -> None:
        super().__init__(f"{type_name}: {message}" if message else type_name)
        self.type_name = type_name
        self.message = message
        self.traceback = traceback


class Ledger(Protocol):
    # Can it tell that a task finished in another process (join(), result())?
    observes_workers: bool

    def accept(self, engine: str, producer: str) -> int:
        """A new id, recorded PENDING and counted outstanding for ``producer`` (by
        ``BlockLedger``, in the backend's send: ``block_ledger.py``)."""
        ...

    def discard(self, message: TaskMessage) -> None:
        """The broker refused the message: forget its record."""
        ...

    def started(self, message: TaskMessage) -> int:
        """Record an attempt's start: ``RUN``; ``SKIP`` when the task already finished (a
        redelivery); ``CANCELLED`` when ``cancel`` marked it (the caller reports it)."""
        ...

    def cancel(self, engine: str, task_id: int) -> bool:
        """Mark a task that no attempt has started (or that waits for its next) cancelled."""
        ...

    def failed_call(self, engine: str, task_id: int) -> KeptCall:
        """The call of a failed task, kept with its record (``results``), for ``retry``."""
        ...

    def retrying(self, message: TaskMessage) -> None: ...

    def finished(self, message: TaskMessage, status: TaskStatus, value: object, error: BaseException | None) -> bool:
        """Record the outcome; False when it was recorded before (report nothing then)."""
        ...

    def result(self, engine: str, task_id: int) -> TaskResult | None: ...

    def outstanding(self, engine: str, producer: str) -> int | None:
        """Tasks ``producer`` accepted that have not finished; None when it cannot tell."""
        ...


class NullLedger:
    observes_workers = False

    def accept(self, engine: str, producer: str) -> int:
        return snowflake()

    def discard(self, message: TaskMessage) -> None:
        pass

    def started(self, message: TaskMessage) -> int:
        return RUN

    def cancel(self, engine: str, task_id: int) -> bool:
        return False  # no store beside the broker: a sent message cannot be taken back

    def failed_call(self, engine: str, task_id: int) -> KeptCall:
        return "the broker keeps no records without a Redis beside it"

    def retrying(self, message: TaskMessage) -> None:
        pass

    def finished(self, message: TaskMessage, status: TaskStatus, value: object, error: BaseException | None) -> bool:
        return True

    def result(self, engine: str, task_id: int) -> TaskResult | None:
        return None

    def outstanding(self, engine: str, producer: str) -> int | None:
        return None


class LocalLedger:
    """One process's accounts: the in-memory broker's and eager mode's."""

    observes_workers = True

    def __init__(self, results: int) -> None:
        self._size = results
        self._changed = threading.Condition(threading.Lock())
        self._live: dict[int, list[Any]] = {}  # id -> [status, attempts, enqueued_at, started_at]
        self._finished: dict[int, TaskResult] = {}
        self._calls: dict[int, tuple[str, list[Any], dict[str, Any]]] = {}  # failed tasks' calls
        self._order: deque[int] = deque()

    def accept(self, engine: str, producer: str) -> int:
        task_id = snowflake()
        with self._changed:
            self._live[task_id] = [TaskStatus.PENDING, 0, time.time(), None]
        return task_id

    def discard(self, message: TaskMessage) -> None:
        with self._changed:
            self._live.pop(message.id, None)
            self._changed.notify_all()

    def started(self, message: TaskMessage) -> int:
        with self._changed:
            record = self._live.get(message.id)
            if record is None:
                return SKIP
            if record[0] is _CANCELLED:
                return CANCELLED
            record[0], record[1] = TaskStatus.RUNNING, message.attempt
            if record[3] is None:
                record[3] = time.time()
            return RUN

    def cancel(self, engine: str, task_id: int) -> bool:
        with self._changed:
            record = self._live.get(task_id)
            if record is None or record[0] is not TaskStatus.PENDING:
                return False
            record[0] = _CANCELLED
            return True

    def failed_call(self, engine: str, task_id: int) -> KeptCall:
        with self._changed:
            return _kept(task_id, self._finished.get(task_id), self._live.get(task_id), self._calls.get(task_id))

    def retrying(self, message: TaskMessage) -> None:
        with self._changed:
            record = self._live.get(message.id)
            if record is not None:
                record[0] = TaskStatus.PENDING

    def finished(self, message: TaskMessage, status: TaskStatus, value: object, error: BaseException | None) -> bool:
        with self._changed:
            record = self._live.pop(message.id, None)
            if record is None:
                return False
            if self._size:
                self._finished[message.id] = TaskResult(
                    id=message.id,
                    status=status,
                    attempts=record[1],
                    return_value=value,
                    error=error,
                    enqueued_at=utc(record[2]),
                    started_at=None if record[3] is None else utc(record[3]),
                    finished_at=utc(time.time()),
                )
                if status is TaskStatus.FAILED:
                    self._calls[message.id] = (message.name, list(message.args), dict(message.kwargs))
                self._order.append(message.id)
                if len(self._order) > self._size:
                    dropped = self._order.popleft()
                    self._finished.pop(dropped, None)
                    self._calls.pop(dropped, None)
            self._changed.notify_all()
            return True

    def result(self, engine: str, task_id: int) -> TaskResult | None:
        with self._changed:
            finished = self._finished.get(task_id)
            if finished is not None:
                return finished
            record = self._live.get(task_id)
            if record is None:
                return None
            status, attempts, enqueued_at, started_at = record
        return TaskResult(
            id=task_id,
            status=TaskStatus.PENDING if status is _CANCELLED else status,
            attempts=attempts,
            return_value=None,
            error=None,
            enqueued_at=utc(enqueued_at),
            started_at=None if started_at is None else utc(started_at),
            finished_at=None,
        )

    def outstanding(self, engine: str, producer: str) -> int | None:
        with self._changed:
            return len(self._live)

    def live_ids(self) -> list[int]:
        with self._changed:
            return list(self._live)

    def wait_until(self, done: Callable[[Collection[int]], bool], timeout: float | None) -> bool:
        """Wait until ``done(live ids)`` is true, or ``timeout``; True if it is."""
        with self._changed:
            return self._changed.wait_for(lambda: done(self._live.keys()), timeout)


_CANCELLED: Any = "CANCELLED"  # a live record cancel() marked: shown PENDING until a worker reports it


def unknown_task(task_id: int) -> str:
    return f"task {task_id} is not known (or its record is no longer kept: results=N keeps the last N)"


def not_failed(task_id: int, status: str) -> str:
    if status == "DONE":
        return f"task {task_id} succeeded; only a failed task can be retried"
    return f"task {task_id} has not finished"


def _kept(
    task_id: int, finished: TaskResult | None, live: object, call: tuple[str, list[Any], dict[str, Any]] | None
) -> KeptCall:
    if finished is None:
        return not_failed(task_id, "PENDING") if live is not None else unknown_task(task_id)
    if finished.status is not TaskStatus.FAILED:
        return not_failed(task_id, finished.status.value)
    return call if call is not None else f"task {task_id} failed but its call was not kept"
