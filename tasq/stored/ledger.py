"""The executor's ledger over the journal: an attempt's outcome is a row's commit.

The broker engines' ``Executor`` runs every attempt of a stored task too (hooks, time limits,
``RetryTask``, the log lines, the callbacks): it asks its ledger whether to run an attempt and
records the outcome through it before it reports. Here the claim was the start, and the
outcome is committed under this process's lease; a run whose lease lapsed (another process
took it over) is not recorded and so not reported.
"""

from __future__ import annotations

import traceback

from .. import exceptions
from ..backends.ledger import RUN, KeptCall, NullLedger, RemoteTaskError
from ..backends.payload import TaskMessage
from ..store import Journal, Outcome, TaskRecord
from ..task import TaskResult, TaskStatus, utc

__all__ = ["REPORT_ONLY", "JournalLedger", "describe", "error_of", "result_of"]

# For outcomes recorded already (a cancel, a recovered run): the executor reports them only.
REPORT_ONLY = NullLedger()

_TRACEBACK_LIMIT = 8000
_STATUS = {
    "pending": TaskStatus.PENDING,
    "running": TaskStatus.RUNNING,
    "done": TaskStatus.DONE,
    "failed": TaskStatus.FAILED,
    "cancelled": TaskStatus.FAILED,
}


class JournalLedger:
    """What the executor records, written to the journal under ``owner``'s lease."""

    observes_workers = True

    def __init__(self, journal: Journal, owner: str) -> None:
        self.journal = journal
        self.owner = owner

    def accept(self, engine: str, producer: str) -> int:
        raise NotImplementedError("the journal gives ids as it stores rows")

    def discard(self, message: TaskMessage) -> None:
        pass

    def started(self, message: TaskMessage) -> int:
        return RUN  # the claim started it

    def cancel(self, engine: str, task_id: int) -> bool:
        return self.journal.cancel(task_id)

    def failed_call(self, engine: str, task_id: int) -> KeptCall:
        return "a stored task is retried by the journal"

    def retrying(self, message: TaskMessage) -> None:
        pass  # the run is put back to wait for its next attempt once the delay is known

    def finished(self, message: TaskMessage, status: TaskStatus, value: object, error: BaseException | None) -> bool:
        if status is TaskStatus.DONE:
            outcome = Outcome(task_id=message.id, attempt=message.attempt, state="done", return_value=value)
        else:
            type_name, text, trace = describe(error)
            outcome = Outcome(
                task_id=message.id,
                attempt=message.attempt,
                state="failed",
                error_type=type_name,
                error_message=text,
                error_traceback=trace,
            )
        (recorded,) = self.journal.finish(self.owner, [outcome])
        return recorded

    def result(self, engine: str, task_id: int) -> TaskResult | None:
        record = self.journal.result(task_id)
        return None if record is None or record.engine != engine else result_of(record)

    def outstanding(self, engine: str, producer: str) -> int | None:
        return None


def describe(error: BaseException | None) -> tuple[str, str, str]:
    """An error as the store keeps it: its qualified type name, message and traceback."""
    if error is None:
        return "", "", ""
    kind = type(error)
    trace = "".join(traceback.format_exception(error))[-_TRACEBACK_LIMIT:] if error.__traceback__ else ""
    return f"{kind.__module__}.{kind.__qualname__}", str(error), trace


def error_of(record: TaskRecord) -> BaseException | None:
    """The error a failed row stands for: TasQ's own errors as themselves, others as
    ``RemoteTaskError`` with the type name, message and traceback."""
    if record.error_type is None or record.state not in ("failed", "cancelled"):
        return None
    module, _, name = record.error_type.rpartition(".")
    message = record.error_message or ""
    if module == exceptions.__name__:
        kind = getattr(exceptions, name, None)
        if isinstance(kind, type) and issubclass(kind, exceptions.TasQError) and kind is not exceptions.StoreError:
            try:
                return kind(message)
            except TypeError:
                pass
    return RemoteTaskError(name or record.error_type, message, record.error_traceback or "")


def result_of(record: TaskRecord) -> TaskResult:
    value = record.return_value if record.return_value is not None else record.return_repr
    return TaskResult(
        id=record.id,
        status=_STATUS[record.state],
        attempts=record.attempts,
        return_value=value if record.state == "done" else None,
        error=error_of(record),
        enqueued_at=utc(record.enqueued_at),
        started_at=None if record.started_at is None else utc(record.started_at),
        finished_at=None if record.finished_at is None else utc(record.finished_at),
    )
