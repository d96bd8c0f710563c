"""What a broker engine can tell: ``join``, ``running_ids``, ``stats`` and ``result``.

Each asks the ledger (Redis: what every process reported; the in-process one otherwise)
and the executor (what runs in this process).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..checks import check_seconds, remaining
from ..task import Stats, TaskResult
from .execution import Executor
from .ledger import Ledger, LocalLedger
from .surface import BrokerSurface

__all__ = ["BrokerLooking"]


class BrokerLooking(BrokerSurface):
    """The looking half of ``BrokerEngine``."""

    __slots__ = ()

    # Made by BrokerEngine.
    _accepted_count: int
    _ledger: Ledger | None
    _local: LocalLedger
    _producer: str
    executor: Executor
    local_worker: bool

    if TYPE_CHECKING:

        def _connected(self) -> Ledger: ...

    def join(self, timeout: float | None = None) -> bool:
        """Wait until every task this engine sent has finished, in whichever worker; True if so.

        It asks the ledger: exact with Redis and with an in-process broker. A broker with no
        store beside it (RabbitMQ) cannot tell: then it returns False at once if this engine
        sent anything. Once closed, an engine whose workers run elsewhere holds nothing: its
        tasks belong to the broker, and join() returns True at once (a web process that
        drains its engine at exit does not wait for the workers).
        """
        if timeout is not None:
            timeout = check_seconds("timeout", timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._closed and not self.local_worker:
            return True
        ledger = self._ledger
        if ledger is None or ledger is self._local:
            return self._local.wait_until(lambda live: not live, timeout)
        pause = 0.005
        while True:
            outstanding = ledger.outstanding(self.name, self._producer)
            if outstanding is None:
                return self._accepted_count == 0
            if outstanding <= 0:
                return True
            left = remaining(deadline)
            if left is not None and left <= 0:
                return False
            time.sleep(pause if left is None else min(pause, left))
            pause = min(pause * 2, 0.2)

    def running_ids(self) -> list[int]:
        """The ids of this engine's tasks running in this process."""
        return sorted(self.executor.running)

    def stats(self) -> Stats:
        """This process's view: what it enqueued, ran and reported; ``pending`` from the ledger."""
        done, failed, retried, cancelled = self.executor.counts
        running = len(self.executor.running)
        ledger = self._ledger if self._ledger is not None else self._local
        outstanding = 0
        if not (self._closed and not self.local_worker):  # closed, it holds nothing: no I/O
            try:
                outstanding = ledger.outstanding(self.name, self._producer) or 0
            except Exception:  # noqa: BLE001 - stats() must answer even when the broker does not
                outstanding = 0
        return Stats(
            enqueued=self._accepted_count,
            pending=max(0, outstanding - running),
            running=running,
            done=done,
            failed=failed,
            retried=retried,
            cancelled=cancelled,
            workers=self._worker_threads(),
        )

    def result(self, task_id: int) -> TaskResult | None:
        """What the ledger knows of a task when ``results`` keeps it (Redis: from any process)."""
        if not self.results:
            return None
        found = self._local.result(self.name, task_id)
        if found is None and not self.local_worker:
            found = self._connected().result(self.name, task_id)
        return found
