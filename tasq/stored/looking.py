"""What a store engine can tell, from the store: ``join``, ``stats`` and ``result`` answer
for every process sharing it; ``running_ids`` for this one."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, cast

from ..backends.ledger import LocalLedger
from ..checks import check_seconds, check_task_id, remaining
from ..engine import TasQ
from ..store import Journal
from ..task import Stats, TaskResult
from .ledger import result_of
from .slots import StoreSlotClaim

if TYPE_CHECKING:
    from ..dashboard.store import StoreSource
    from .engine import StoreEngine
    from .runner import Runner

__all__ = ["StoreLooking"]

_STARTED = 1


class StoreLooking(TasQ):
    """The looking half of ``StoreEngine``."""

    __slots__ = ()

    # Made by StoreEngine.
    journal: Journal
    _runner: Runner | None
    _changed: threading.Condition
    _outstanding: set[int]
    _state: int
    _local: LocalLedger

    def dashboard_source(self) -> StoreSource:
        """What a dashboard of this engine reads: the store, so every process sharing it."""
        from ..dashboard.store import StoreSource

        return StoreSource(cast("StoreEngine", self))

    def slot_claim(self) -> StoreSlotClaim:
        """How periodic tasks claim a slot: in the store, so once across every process."""
        return StoreSlotClaim(self.journal)

    def join(self, timeout: float | None = None) -> bool:
        """Wait until every task this engine accepted has ended, in whichever process; True if so."""
        if timeout is not None:
            timeout = check_seconds("timeout", timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.005
        while True:
            with self._changed:
                waiting = list(self._outstanding)
            if not waiting:
                return True
            runner = self._runner
            here = set(runner.held_ids()) if runner is not None else set()
            ended = self.journal.finished_among([task_id for task_id in waiting if task_id not in here])
            with self._changed:
                self._outstanding.difference_update(ended)
                if not self._outstanding:
                    return True
                left = remaining(deadline)
                if left is not None and left <= 0:
                    return False
                self._changed.wait(pause if left is None else min(pause, left))
            pause = min(pause * 2, 0.1)

    def _settle_before_exit(self, timeout: float) -> bool:
        """Only the runs of this process: what is pending stays in the store for the others
        and the next start, whichever process enqueued it."""
        runner = self._runner
        return runner is None or runner.wait_stopped(timeout)

    def running_ids(self) -> list[int]:
        """The ids of this engine's tasks running in this process."""
        runner = self._runner
        return [] if runner is None else runner.running_ids()

    def stats(self) -> Stats:
        """Counts of this engine's rows in the store, as every process sharing it sees them."""
        counts = self.journal.stats(self.name)
        return Stats(
            enqueued=counts.total,
            pending=counts.pending,
            running=counts.running,
            done=counts.done,
            failed=counts.failed + counts.cancelled,
            retried=counts.retried,
            cancelled=counts.cancelled,
            workers=self.workers if self._runner is not None and self._state == _STARTED else 0,
        )

    def result(self, task_id: int) -> TaskResult | None:
        """What the store holds of a task: pending, running, or finished and still kept."""
        check_task_id(task_id)
        if self.eager:  # an eager task ran in the caller's thread and was never stored
            return self._local.result(self.name, task_id)
        record = self.journal.result(task_id)
        if record is None or record.engine != self.name:
            return None
        return result_of(record)
