"""The ticker's sense of time, injectable: the system clock, or a fake one that tests move by hand."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "FakeClock", "SystemClock"]


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, an aware datetime."""

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Sleep up to ``seconds`` or until ``event`` is set; True if it is set."""


class SystemClock:
    """Wall-clock time; a sleep is one ``Event.wait``, so an idle ticker costs nothing."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def wait(self, event: threading.Event, seconds: float) -> bool:
        return event.wait(max(0.0, seconds))


class FakeClock:
    """A clock that stands still until ``advance()``: cron schedules tested without waiting.

    ``wait`` returns once the fake time has reached the end of the sleep, or the event is set
    (checked every few milliseconds of real time, since nothing ties the event to this clock).
    ``wait_idle()`` lets a test know when a ticker has done what was due and sleeps again.
    """

    _POLL = 0.005

    def __init__(self, start: datetime | None = None) -> None:
        if start is not None and start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime, e.g. datetime(2026, 1, 1, tzinfo=timezone.utc)")
        self._now = (start or datetime(2026, 1, 1, tzinfo=UTC)).astimezone(UTC)
        self._changed = threading.Condition()
        self._sleeps: dict[int, datetime] = {}  # thread ident -> the fake time its sleep ends

    def now(self) -> datetime:
        with self._changed:
            return self._now

    def advance(self, seconds: float | timedelta) -> datetime:
        """Move time forward and wake the sleepers whose sleep has ended; the new time."""
        step = seconds if isinstance(seconds, timedelta) else timedelta(seconds=seconds)
        if step < timedelta(0):
            raise ValueError("a FakeClock only moves forward")
        with self._changed:
            self._now += step
            self._changed.notify_all()
            return self._now

    def set(self, moment: datetime) -> datetime:
        """Jump to ``moment`` (not before the current fake time); the new time."""
        return self.advance(moment.astimezone(UTC) - self.now())

    def wait(self, event: threading.Event, seconds: float) -> bool:
        me = threading.get_ident()
        with self._changed:
            until = self._now + timedelta(seconds=max(0.0, seconds))
            self._sleeps[me] = until
            self._changed.notify_all()
            try:
                while self._now < until and not event.is_set():
                    self._changed.wait(self._POLL)
            finally:
                del self._sleeps[me]
                self._changed.notify_all()
        return event.is_set()

    def wait_idle(self, count: int = 1, timeout: float = 5.0) -> bool:
        """Block (real time) until ``count`` threads sleep past the fake now; False on timeout."""
        with self._changed:
            return self._changed.wait_for(
                lambda: sum(until > self._now for until in self._sleeps.values()) >= count, timeout
            )
