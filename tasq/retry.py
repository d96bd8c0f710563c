from __future__ import annotations

import math
import random
from dataclasses import dataclass

__all__ = ["Backoff", "backoff"]


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
