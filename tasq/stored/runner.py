"""This process's share of a store's work: worker threads, and the keeper that feeds them.

Runs are claimed from the journal (leased to this process) and wait here, highest priority
first, for a worker. A task enqueued while a worker is idle is stored already claimed, so it
starts at once without a claim of its own; the keeper claims the rest: when a worker falls
idle and the store may hold due work, within ``store_poll`` of work stored by other
processes, and when a delayed task or a retry falls due. It also renews this process's
leases (a third of ``store_lease``), takes back the runs of processes whose leases lapsed,
and prunes finished rows beyond ``results``.

At most twice ``workers`` runs are held here (a claimed row is "running" in the store),
so that a worker that finishes one finds the next without waiting for a claim; the rest
stay in the store for other processes. A held run that no worker has started can still be
cancelled (``cancel_waiting``), and at close it is given back to the store.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from typing import TYPE_CHECKING

from ..exceptions import TaskCancelled, WorkerLost
from ..store import ClaimedTask
from .attempt import report_recorded, run_claimed
from .ledger import JournalLedger, describe
from .lookup import Found

if TYPE_CHECKING:
    from .engine import StoreEngine

__all__ = ["Runner"]

logger = logging.getLogger("tasq")

_RUN, _DRAIN, _STOP = range(3)
_PRUNE_EVERY = 10.0  # seconds between prunes of finished rows
_INFINITY = float("inf")


class Runner:
    """The worker threads and the keeper thread of one started store engine."""

    def __init__(self, engine: StoreEngine) -> None:
        self.engine = engine
        self.journal = engine.journal
        self.owner = self.journal.owner
        self.ledger = JournalLedger(self.journal, self.owner)
        self.executor = engine.executor
        self.workers = engine.workers
        self.capacity = 2 * engine.workers
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # a worker waits here for a run
        self._changed = threading.Condition(self._lock)  # the keeper and close() wait here
        self._heap: list[tuple[int, int, ClaimedTask, Found | None]] = []
        self._held = 0  # runs claimed by this process: waiting in the heap or running
        self._running: dict[int, ClaimedTask] = {}
        self._poked = False
        self._more = True  # the store may hold due rows that no process has claimed
        self._stores = 0  # rows stored or put back by this process so far (see _claim)
        self._wake_at = _INFINITY  # when the earliest row known to wait falls due
        self._mode = _RUN
        self._due_by = 0.0  # draining: only rows due by then are claimed
        self._drained = False
        self._threads: list[threading.Thread] = []
        self._keeper: threading.Thread | None = None

    # -- starting and stopping ------------------------------------------------------------

    def start(self) -> None:
        name = self.engine.name
        self._threads = [
            threading.Thread(target=self._work_loop, name=f"tasq-{name}-worker-{index + 1}", daemon=True)
            for index in range(self.workers)
        ]
        self._keeper = threading.Thread(target=self._keep, name=f"tasq-{name}-store", daemon=True)
        for thread in self._threads:
            thread.start()
        self._keeper.start()

    def drain(self, due_by: float) -> None:
        """Claim nothing due later than ``due_by``; stop once nothing due by then is left."""
        with self._lock:
            if self._mode == _RUN:
                self._mode, self._due_by, self._more = _DRAIN, due_by, True
                self._poke_locked()

    def stop(self) -> list[int]:
        """Claim nothing more; give back the runs that wait here; workers end after their run."""
        with self._lock:
            self._mode = _STOP
            waiting = [entry[2].id for entry in self._heap]
            self._heap.clear()
            self._held -= len(waiting)
            self._work.notify_all()
            self._poke_locked()
        if waiting:
            try:
                self.journal.release(self.owner, waiting)
            except Exception:  # their leases lapse instead, and they run again
                logger.exception("could not give back %d claimed task(s)", len(waiting), extra={"task_id": None})
        return waiting

    def wait_drained(self, timeout: float | None) -> bool:
        """Wait until the drain left nothing due here (True), or ``timeout`` ran out."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while not self._drained and self._mode == _DRAIN:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def wait_stopped(self, timeout: float | None) -> bool:
        """Wait until every worker thread ended (their runs recorded and reported)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            if thread is threading.current_thread():
                continue
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                return False
        return True

    def is_worker(self) -> bool:
        return threading.current_thread() in self._threads

    def running_ids(self) -> list[int]:
        with self._lock:
            return sorted(self._running)

    def held_ids(self) -> list[int]:
        """Runs claimed here: waiting for a worker or running."""
        with self._lock:
            return [entry[2].id for entry in self._heap] + list(self._running)

    # -- runs from enqueue ----------------------------------------------------------------

    def reserve(self) -> bool:
        """A worker is idle: the task about to be stored may be stored claimed by this process."""
        with self._lock:
            if self._mode == _RUN and self._held < self.workers:
                self._held += 1
                return True
            if self._mode != _STOP:
                self._more = True  # stored unclaimed: the keeper looks once a worker is free
                self._stores += 1
            return False

    def unreserve(self) -> None:
        """The reserved task was not stored after all."""
        with self._lock:
            self._held -= 1
            self._changed.notify_all()

    def push(self, run: ClaimedTask, found: Found | None) -> None:
        """A run claimed as it was stored (after ``reserve``)."""
        with self._lock:
            heapq.heappush(self._heap, (-run.priority, run.id, run, found))
            self._work.notify()

    def stored(self, run_at: float) -> None:
        """A row was stored unclaimed (or put back to wait) that falls due at ``run_at``."""
        with self._lock:
            self._stores += 1
            if run_at <= time.time():
                self._more = True
            elif run_at < self._wake_at:
                self._wake_at = run_at
            self._poke_locked()

    def cancel_waiting(self, task_id: int) -> bool | None:
        """Cancel a run claimed here that no worker has started: True, False (its lease was
        lost), or None when it does not wait here."""
        with self._lock:
            for index, entry in enumerate(self._heap):
                if entry[2].id == task_id:
                    self._heap[index] = self._heap[-1]
                    self._heap.pop()
                    heapq.heapify(self._heap)
                    self._held -= 1
                    run = entry[2]
                    break
            else:
                return None
            self._changed.notify_all()
        if not self.journal.cancel_claimed(self.owner, run.id, run.attempt):
            return False
        self._report_recorded(run.id, run.name, TaskCancelled(f"task {run.id} was cancelled"))
        return True

    # -- workers --------------------------------------------------------------------------

    def _take(self) -> tuple[ClaimedTask, Found | None] | None:
        with self._work:
            while not self._heap:
                if self._mode == _STOP:
                    return None
                self._work.wait()
            _, _, run, found = heapq.heappop(self._heap)
            self._running[run.id] = run
            return run, found

    def _work_loop(self) -> None:
        self.executor.thread_started()
        try:
            while (taken := self._take()) is not None:
                run, found = taken
                ended = True
                try:
                    ended = self._run(run, found)
                except BaseException:  # the run's outcome was reported, or is logged here
                    logger.exception("task %d could not be recorded", run.id, extra={"task_id": run.id})
                finally:
                    self._finished(run, ended)
        finally:
            self.executor.thread_stopped()

    def _finished(self, run: ClaimedTask, ended: bool) -> None:
        with self._lock:
            self._running.pop(run.id, None)
            self._held -= 1
            if self._held <= self.workers:
                self._poke_locked()
            self._changed.notify_all()
        if ended:
            self.engine._reported(run.id)

    def _run(self, run: ClaimedTask, found: Found | None) -> bool:
        """Run one claimed attempt; False when it was put back to wait for its next one."""
        return run_claimed(self, run, found)

    def _put_back(self, run: ClaimedTask, delay: float, error: BaseException | None) -> None:
        now = time.time()
        run_at = now + delay
        with self._lock:
            if self._mode == _DRAIN and delay <= 0:
                run_at = min(run_at, self._due_by)  # the same task going on: the drain runs it
        type_name, text, _ = describe(error)
        if self.journal.reschedule(self.owner, run.id, run.attempt, run_at, type_name, text):
            self.stored(run_at)

    # -- the keeper -----------------------------------------------------------------------

    def _poke_locked(self) -> None:
        self._poked = True
        self._changed.notify_all()

    def _keep(self) -> None:
        engine = self.engine
        lease, poll = engine.store_lease, engine.store_poll
        next_renew = next_recover = next_look = 0.0
        next_prune = time.monotonic() + _PRUNE_EVERY
        failures = 0
        while True:
            now = time.time()
            with self._lock:
                if self._mode == _STOP and self._held == 0:
                    return
                free = self.capacity - self._held if self._held <= self.workers and self._mode != _STOP else 0
                look = free > 0 and (self._more or now >= next_look or now >= self._wake_at or self._mode == _DRAIN)
                if look and now >= self._wake_at:
                    self._wake_at, self._more = _INFINITY, True
            try:
                if now >= next_renew:
                    self.journal.renew(self.owner, lease, now)
                    next_renew = now + lease / 3
                if now >= next_recover and self._mode != _STOP:
                    self._recover(now)
                    next_recover = now + poll
                if look:
                    self._claim(free, now)
                    next_look = now + poll
                if time.monotonic() >= next_prune:
                    self.journal.prune(engine.name, engine.results)
                    next_prune = time.monotonic() + _PRUNE_EVERY
                failures = 0
            except Exception:  # the store may come back: retry, and say so
                failures += 1
                if failures == 1 or failures % 100 == 0:
                    logger.exception(
                        "engine %r could not reach its store (%d time(s) in a row); retrying",
                        engine.name,
                        failures,
                        extra={"task_id": None},
                    )
                next_look = time.time() + min(poll, 0.05 * 2**failures)
            with self._lock:
                if self._poked:
                    self._poked = False
                    continue
                wake = min(next_renew, self._wake_at)
                if self._mode != _STOP:
                    wake = min(wake, next_recover)
                    if self._held <= self.workers:
                        wake = min(wake, next_look)
                self._changed.wait(max(0.0, wake - time.time()))
                self._poked = False

    def _claim(self, free: int, now: float) -> None:
        engine = self.engine
        with self._lock:
            draining = self._mode == _DRAIN
            now = time.time()  # not the keeper's earlier reading: a row put back since is due
            due_by = min(now, self._due_by) if draining else now
            more = self._more
            stores = self._stores
        if not more:
            next_due = self.journal.next_run_at(engine.name)
            if next_due is None or next_due > due_by:
                with self._lock:
                    if self._stores != stores:
                        self._more = True
                        return
                    if next_due is not None and not draining:
                        self._wake_at = min(self._wake_at, next_due)
                    self._settle_drain_locked(draining)
                return
        claimed = self.journal.claim(engine.name, self.owner, free, now=due_by, lease=engine.store_lease)
        with self._lock:
            if self._mode == _STOP:
                self._heap.extend((-run.priority, run.id, run, None) for run in claimed)
                self._held += len(claimed)
            else:
                for run in claimed:
                    heapq.heappush(self._heap, (-run.priority, run.id, run, None))
                self._held += len(claimed)
                self._work.notify(len(claimed))
            # A row stored while the claim ran may not have been seen by it: look again.
            self._more = len(claimed) == free or self._stores != stores
            if not claimed:
                self._settle_drain_locked(draining)
        if claimed and self._mode == _STOP:
            self.stop()  # close() came between the claim and now: give them back

    def _settle_drain_locked(self, draining: bool) -> None:
        if draining and self._held == 0 and not self._drained:
            self._drained = True
            self._changed.notify_all()

    def _recover(self, now: float) -> None:
        engine = self.engine
        requeued, lost = self.journal.recover(engine.name, now)
        if requeued:
            with self._lock:
                self._more = True
        for task_id in lost:
            record = self.journal.result(task_id)
            name = record.name if record is not None else "?"
            error = WorkerLost(f"the process running task {task_id} died (its lease lapsed)")
            self._report_recorded(task_id, name, error)
            engine._reported(task_id)

    def _report_recorded(self, task_id: int, name: str, error: BaseException) -> None:
        """Report an outcome this process recorded outside a run (a cancel, a lost run)."""
        report_recorded(self.engine, self.executor, self.owner, task_id, name, error)
