from __future__ import annotations

from datetime import timedelta

from .checks import seconds

__all__ = [
    "MaxRetryExceeded",
    "QueueFull",
    "RetryTask",
    "StoreError",
    "TasQClosed",
    "TasQError",
    "TaskCancelled",
    "TimeLimitExceeded",
    "WorkerLost",
]


class TasQError(Exception):
    """Base class of the errors TasQ raises or reports."""


class RetryTask(Exception):
    """Raised by a task to ask for another attempt, optionally after ``delay`` seconds."""

    def __init__(self, *args: object, delay: float | timedelta | None = None) -> None:
        super().__init__(*args)
        self.delay: float | None = None if delay is None else seconds(delay)


class MaxRetryExceeded(TasQError):
    """A task still asked for a retry on its last allowed attempt."""


class TaskCancelled(TasQError):
    """A task that will not run: ``cancel(task_id)`` was asked, or its engine closed first."""


class TimeLimitExceeded(TasQError):
    """An attempt still ran when its ``time_limit`` ran out; the task fails, not retried."""


class TasQClosed(TasQError):
    """The engine is closed and accepts no more tasks."""


class QueueFull(TasQError):
    """The bounded queue had no free slot in time."""


class WorkerLost(TasQError):
    """The process running a task died before it finished (a store recovered the task)."""


class TaskNotFound(TasQError):
    """A stored task whose function can no longer be found (renamed or deleted code) or whose
    arguments no longer load; it fails once, and the other tasks run."""


class StoreError(TasQError):
    """A durable store that cannot be opened, read or written; the message says what to do.

    ``path`` is the store's file. Nothing of the call that raised it was accepted.
    """

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path
