"""Checks of the values users hand to TasQ: a clear TypeError/ValueError, nothing half-accepted.

Shared by the engine, ``@background`` and the scale-out backends.
"""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from .task import RetryDelay, TaskOptions

__all__ = [
    "MAX_PRIORITY",
    "MIN_PRIORITY",
    "check_bool",
    "check_callback",
    "check_int",
    "check_retry_delay",
    "check_schedule",
    "check_seconds",
    "check_task_id",
    "check_time_limit",
    "remaining",
    "seconds",
]

MIN_PRIORITY, MAX_PRIORITY = -100, 100
_LONGEST_WAIT = threading.TIMEOUT_MAX / 2  # room for the monotonic clock a wait adds to it


def seconds(delay: float | timedelta) -> float:
    """A delay as seconds: a finite number >= 0, or a timedelta."""
    if isinstance(delay, timedelta):
        value = delay.total_seconds()
    elif isinstance(delay, (int, float)) and not isinstance(delay, bool):
        value = float(delay)
    else:
        raise TypeError(f"delay must be seconds or a timedelta, not {type(delay).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"delay must be a finite number of seconds >= 0, not {delay!r}")
    return value


def check_schedule(
    delay: float | timedelta | datetime | None, priority: int | None, options: TaskOptions | None
) -> tuple[float, int]:
    """(seconds until due, priority); a priority not given (None) is the task's own, else 0."""
    if priority is None:
        priority = 0 if options is None else options.priority
    if type(priority) is not int:
        raise TypeError(f"priority must be an int, not {type(priority).__name__}")
    if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise ValueError(f"priority must be between {MIN_PRIORITY} and {MAX_PRIORITY}, not {priority}")
    if delay is None:
        return 0.0, priority
    if isinstance(delay, datetime):
        if delay.tzinfo is None or delay.utcoffset() is None:
            raise ValueError("a datetime delay must be timezone-aware, e.g. datetime.now(timezone.utc)")
        return max(0.0, (delay - datetime.now(UTC)).total_seconds()), priority
    return seconds(delay), priority


def check_int(name: str, value: object, minimum: int) -> int:
    if type(value) is not int:
        raise TypeError(f"{name} must be an int, not {type(value).__name__} ({value!r})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, not {value}")
    return value


def check_bool(name: str, value: object) -> bool:
    if type(value) is not bool:
        raise TypeError(f"{name} must be True or False, not {value!r}")
    return value


def check_seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if math.isnan(value) or value < 0:
        raise ValueError(f"{name} must be >= 0 seconds, not {value!r}")
    return float(value)


def check_time_limit(name: str, value: object) -> float | None:
    """A time limit: None (none), or seconds > 0."""
    if value is None:
        return None
    limit = check_seconds(name, value)
    if limit <= 0 or math.isinf(limit):
        raise ValueError(f"{name} must be a finite number of seconds > 0, or None; not {value!r}")
    return limit


def check_task_id(value: object) -> int:
    """A task id as ``cancel``/``retry`` take it: an int >= 1 (not a bool, not a str)."""
    if type(value) is not int:
        raise TypeError(f"task_id must be an int, not {type(value).__name__} ({value!r})")
    if value < 1:
        raise ValueError(f"task_id must be >= 1, not {value}")
    return value


def check_retry_delay(value: object) -> RetryDelay:
    if callable(value):
        return value
    try:
        return seconds(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"retry_delay must be seconds or a callable attempt -> seconds, not {type(value).__name__}"
        ) from None


def check_callback(name: str, value: object) -> Any:
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be callable or None, not {type(value).__name__}")
    return value


def remaining(deadline: float | None) -> float | None:
    """Seconds left until a ``time.monotonic()`` deadline (never below 0); None: no deadline.

    A deadline too far for a lock or an event to wait on (``timeout=float("inf")``, beyond
    ``threading.TIMEOUT_MAX``) is no deadline: waiting on it would raise ``OverflowError``.
    """
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    return None if left > _LONGEST_WAIT else max(0.0, left)
