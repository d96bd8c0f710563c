"""The ticker: one thread per engine that enqueues each periodic task when its slot is due.

It sleeps until the earliest due slot with one ``Event.wait`` (no polling): an idle schedule
costs nothing. A run is an ordinary task, enqueued through the engine's public API, so it
gets an id, retries, callbacks and signals like any other.

Which slots run (the catch-up rule): at start, and after any sleep that ran late, only the
latest slot at or before now is a candidate. It is less than one period late by definition,
so a slot missed while no process ran is run once at the next start, and the slots missed
before it never are: no burst of catch-up runs. A candidate runs only if ``claim`` says this
process is the first to claim it, which keeps it to one run per slot across processes.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..exceptions import QueueFull, TasQClosed
from .claims import SlotClaim
from .clock import Clock, SystemClock
from .filelock import FileLock

if TYPE_CHECKING:
    from ..engine import TasQ
    from .decorator import PeriodicFunction

__all__ = ["Ticker"]

logger = logging.getLogger(__name__)

LOCK_RETRY = 1.0  # seconds between a non-holder's attempts at the file lock
MAX_SLEEP = 60.0  # a long sleep is cut up, so that a wall-clock jump is noticed within it


@dataclass(slots=True)
class _Entry:
    function: PeriodicFunction[..., Any]
    due: datetime | None = None  # the next slot to consider; None: not computed yet


class Ticker:
    """Runs the schedules of ``functions`` on ``engine`` while it is started.

    ``claim`` decides each slot (a ``FileLock`` also decides whether this process ticks at
    all: only while it holds the lock); ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        engine: TasQ,
        functions: list[PeriodicFunction[..., Any]],
        claim: SlotClaim,
        clock: Clock | None = None,
        lock_retry: float = LOCK_RETRY,
    ) -> None:
        self.engine = engine
        self.claim = claim
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.lock_retry = lock_retry
        self._entries = [_Entry(function) for function in functions]
        self._stopping = False
        self._wake = threading.Event()  # set by stop() and add(): ends the one sleep there is
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._lock_failing = False

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=f"tasq-{self.engine.name}-periodic", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop ticking and let another process take the schedule over."""
        self._stopping = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        if isinstance(self.claim, FileLock) and not self.running:
            self.claim.release()
        close = getattr(self.claim, "close", None)
        if callable(close) and not self.running:
            close()

    def forget_after_fork(self) -> None:
        """In a forked child: the thread is gone, and the parent's lock is the parent's."""
        self._stopping = True
        self._thread = None
        if isinstance(self.claim, FileLock):
            self.claim.forget_after_fork()

    def add(self, function: PeriodicFunction[..., Any]) -> None:
        with self._lock:
            if all(entry.function is not function for entry in self._entries):
                self._entries.append(_Entry(function))
        self._wake.set()

    def next_runs(self) -> dict[str, datetime | None]:
        """Each task's next slot, by task name (None before the ticker has looked)."""
        with self._lock:
            return {entry.function.options.name or "?": entry.due for entry in self._entries}

    def schedules(self) -> list[tuple[PeriodicFunction[..., Any], datetime | None]]:
        """Each function this ticker runs, with its next slot (None before the ticker has looked)."""
        with self._lock:
            return [(entry.function, entry.due) for entry in self._entries]

    # -- the thread ---------------------------------------------------------------------

    def _run(self) -> None:
        lock = self.claim if isinstance(self.claim, FileLock) else None
        try:
            while not self._stopping:
                self._wake.clear()
                if lock is not None and not lock.held:
                    if not self._try_lock(lock):
                        self.clock.wait(self._wake, self.lock_retry)
                        continue
                    self._reset()  # a new holder starts from now, by the catch-up rule
                seconds = self._tick()
                if seconds is None:
                    return
                if seconds > 0 and not self._stopping:
                    self.clock.wait(self._wake, min(seconds, MAX_SLEEP))
        except Exception:
            logger.exception("the periodic ticker of engine %r stopped", self.engine.name, extra={"task_id": None})
        finally:
            if lock is not None:
                lock.release()

    def _try_lock(self, lock: FileLock) -> bool:
        try:
            held = lock.acquire()
        except OSError as error:
            if not self._lock_failing:  # once, not every second
                logger.error("cannot use the lock %s: %s", lock.path, error, extra={"task_id": None})
            self._lock_failing = True
            return False
        self._lock_failing = False
        return held

    def _reset(self) -> None:
        with self._lock:
            for entry in self._entries:
                entry.due = None

    def _tick(self) -> float | None:
        """Run what is due; seconds until the next slot, or None once the engine is closed."""
        now = self.clock.now()
        with self._lock:
            entries = list(self._entries)
        earliest: datetime | None = None
        for entry in entries:
            schedule = entry.function.schedule
            if entry.due is None or entry.due <= now:
                slot = schedule.latest(now)
                candidate = entry.due is None or slot >= entry.due
                if candidate and not self._run_slot(entry.function, slot, schedule.next_after(slot)):
                    return None
                entry.due = schedule.next_after(now)
            if earliest is None or entry.due < earliest:
                earliest = entry.due
        if earliest is None:
            return MAX_SLEEP
        return max(0.0, (earliest - self.clock.now()).total_seconds())

    def _run_slot(self, function: PeriodicFunction[..., Any], slot: datetime, keep_until: datetime) -> bool:
        """Claim and enqueue one slot; False if the engine no longer takes tasks."""
        engine = self.engine
        name = function.options.name or "?"
        try:
            if not self.claim.claim(engine.name, name, slot, keep_until):
                return True
        except Exception as error:  # noqa: BLE001 - an unreachable store or Redis skips the slot
            logger.warning(
                "periodic %s: could not claim slot %s (%s); skipped", name, slot, error, extra={"task_id": None}
            )
            return True
        try:
            task_id = engine.enqueue(function.task())
        except TasQClosed:
            return False
        except (QueueFull, Exception):  # the next slot is tried all the same
            logger.exception("periodic %s: slot %s could not be enqueued", name, slot, extra={"task_id": None})
            return True
        logger.debug("periodic %s: slot %s runs as task %d", name, slot, task_id, extra={"task_id": task_id})
        return True
