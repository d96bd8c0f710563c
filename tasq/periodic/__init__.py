"""Periodic tasks: ``@periodic(cron=...)`` or ``@periodic(every=...)``, once per slot across processes.

- ``schedule``: the slots of ``cron=`` (cronsim) and ``every=``; bad input at decoration.
- ``decorator`` / ``registry``: ``@periodic`` and the process-wide list of periodic functions.
- ``ticker``: the one thread per engine that enqueues each due slot; ``clock`` makes it testable.
- ``claims`` / ``filelock``: one run per slot across processes (a file lock in memory, a
  store's table, a broker's Redis).
- ``runtime``: tickers start with their engine, stop at its close, start anew after fork().
"""

from .claims import MemorySlotClaim, RedisSlotClaim, SlotClaim
from .clock import Clock, FakeClock, SystemClock
from .decorator import PeriodicFunction, periodic
from .filelock import FileLock, lock_directory
from .runtime import next_runs, start_ticker, stop_ticker
from .schedule import Cron, Every, Schedule
from .ticker import Ticker

__all__ = [
    "Clock",
    "Cron",
    "Every",
    "FakeClock",
    "FileLock",
    "MemorySlotClaim",
    "PeriodicFunction",
    "RedisSlotClaim",
    "Schedule",
    "SlotClaim",
    "SystemClock",
    "Ticker",
    "lock_directory",
    "next_runs",
    "periodic",
    "start_ticker",
    "stop_ticker",
]
