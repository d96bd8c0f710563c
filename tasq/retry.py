"""Retries: the decision every engine takes when an attempt raises ``RetryTask``, and backoff."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from .checks import seconds
from .exceptions import MaxRetryExceeded, RetryTask
from .task import RetryDelay

__all__ = ["Backoff", "backoff", "next_attempt"]


def next_attempt(
    task_id: int, attempt: int, max_retry: int, error: RetryTask, delay: RetryDelay
) -> tuple[BaseException | None, float]:
    """(None, seconds until the next attempt) when attempt ``attempt`` may be followed by
    another, else (the error the task fails with, 0.0): ``MaxRetryExceeded`` when it was
    the last, or what a broken ``retry_delay`` raised. ``error.delay`` wins over ``delay``,
    the engine's or the task's ``retry_delay`` (seconds, or a callable attempt -> seconds).
    """
    if attempt >= max_retry:
        failure = MaxRetryExceeded(f"task {task_id} asked for a retry on each of its {max_retry} attempts")
        failure.__cause__ = error
        return failure, 0.0
    if error.delay is not None:
        return None, error.delay
    try:
        return None, seconds(delay(attempt)) if callable(delay) else float(delay)
    except BaseException as bad_delay:  # noqa: BLE001 - a broken retry_delay (even sys.exit()) fails the task
        return bad_delay, 0.0


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff: ``base * factor ** (attempt - 1)`` seconds, capped at ``max``.

    With ``jitter`` each delay is drawn uniformly from its upper half, so that tasks that
    failed together do not all come back at the same instant.
    """

    base: float
    factor: float = 2.0
    max: float = 300.0
    jitter: bool = True

    def __post_init__(self) -> None:
        for name in ("base", "factor", "max"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"backoff {name} must be a number, not {type(value).__name__}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"backoff {name} must be finite and >= 0, not {value!r}")
        if self.factor < 1:
            raise ValueError(f"backoff factor must be >= 1, not {self.factor!r}")
        if self.max < self.base:
            raise ValueError(f"backoff max ({self.max!r}) must be >= base ({self.base!r})")

    def __call__(self, attempt: int) -> float:
        exponent = min(attempt - 1, 64)  # a large attempt would overflow the float
        delay = min(self.max, self.base * self.factor**exponent)
        if self.jitter:
            delay = random.uniform(delay / 2, delay)
        return delay


def backoff(base: float, factor: float = 2.0, max: float = 300.0, jitter: bool = True) -> Backoff:  # noqa: A002
    """The usual ``retry_delay``: ``backoff(0.5)`` waits about 0.5 s, 1 s, 2 s, ... up to ``max``."""
    return Backoff(base, factor, max, jitter)
