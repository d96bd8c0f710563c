from __future__ import annotations

import math
from datetime import timedelta

__all__ = [
    "MaxRetryExceeded",
    "QueueFull",
    "RetryTask",
    "TasQClosed",
    "TasQError",
    "TaskCancelled",
]


class TasQError(Exception):
    """Base class of the errors TasQ raises or reports."""


class RetryTask(Exception):
    """Raised by a task to ask for another attempt, optionally after ``delay`` seconds."""

    def __init__(self, *args: object, delay: float | timedelta | None = None) -> None:
        super().__init__(*args)
        self.delay: float | None = None if delay is None else _seconds(delay)


class MaxRetryExceeded(TasQError):
    """A task still asked for a retry on its last allowed attempt."""


class TaskCancelled(TasQError):
    """A task that will not run because its engine closed first."""


class TasQClosed(TasQError):
    """The engine is closed and accepts no more tasks."""


class QueueFull(TasQError):
    """The bounded queue had no free slot in time."""


def _seconds(delay: float | timedelta) -> float:
    if isinstance(delay, timedelta):
        seconds = delay.total_seconds()
    elif isinstance(delay, (int, float)) and not isinstance(delay, bool):
        seconds = float(delay)
    else:
        raise TypeError(f"delay must be seconds or a timedelta, not {type(delay).__name__}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"delay must be a finite number of seconds >= 0, not {delay!r}")
    return seconds
