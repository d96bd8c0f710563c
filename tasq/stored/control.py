"""Task control from any process sharing the store: cancel a task that has not started,
retry a failed one. Each is one transaction, so a cancel and a claim of the same row are
ordered: exactly one of them changes it."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..backends.execution import Executor
from ..backends.payload import TaskMessage
from ..checks import check_task_id
from ..engine import TasQ
from ..exceptions import TaskCancelled
from ..store import Journal
from .ledger import REPORT_ONLY

if TYPE_CHECKING:
    from .runner import Runner

__all__ = ["StoreControl"]


class StoreControl(TasQ):
    """The control half of ``StoreEngine``."""

    __slots__ = ()

    # Made by StoreEngine.
    executor: Executor
    journal: Journal
    _runner: Runner | None

    if TYPE_CHECKING:

        def _accepted(self, task_ids: list[int]) -> None: ...

        def _reported(self, task_id: int) -> None: ...

        def _check_open(self) -> None: ...

    def cancel(self, task_id: int) -> bool:
        """Cancel a stored task that has not started, from any process sharing the store."""
        check_task_id(task_id)
        runner = self._runner
        if runner is not None:
            waiting = runner.cancel_waiting(task_id)
            if waiting is not None:
                self._reported(task_id)
                return waiting
        if not self.journal.cancel(task_id):
            return False
        self._report_cancelled(task_id, TaskCancelled(f"task {task_id} was cancelled"))
        return True

    def _report_cancelled(self, task_id: int, error: TaskCancelled) -> None:
        message = TaskMessage(
            id=task_id, name="?", args=[], kwargs={}, engine=self.name, max_retry=1, retry_delay=None,
            results=self.results, producer="store",
        )  # fmt: skip
        self.executor.fail(REPORT_ONLY, message, error)
        self._reported(task_id)

    def retry(self, task_id: int) -> int:
        """Store a failed or cancelled task again as a new id; its row is kept."""
        check_task_id(task_id)
        self._check_open()
        new_id = self.journal.retry(task_id)
        self._accepted([new_id])
        if self._runner is not None:
            self._runner.stored(time.time())
        return new_id
