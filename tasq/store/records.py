"""What goes into the journal and what comes out of it: immutable records.

Arguments, headers and return values are stored as JSON text. A task's arguments are
handed back as that text (``ClaimedTask.args``): the engine loads them where it runs the
task, so that a row whose JSON no longer loads fails that task alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["STATES", "ClaimedTask", "NewTask", "Outcome", "StoreStats", "TaskRecord", "TaskState"]

TaskState = Literal["pending", "running", "done", "failed", "cancelled"]
STATES: tuple[TaskState, ...] = ("pending", "running", "done", "failed", "cancelled")
FINISHED: tuple[TaskState, ...] = ("done", "failed", "cancelled")


@dataclass(frozen=True, slots=True, kw_only=True)
class NewTask:
    """A task to accept: which function (by name), its JSON arguments, and its policy."""

    engine: str
    name: str  # module.qualname, or the name= it was registered under
    args: list[Any] | tuple[Any, ...] = ()
    kwargs: dict[str, Any] | None = None
    headers: dict[str, Any] | None = None  # trace context and the like, carried to every attempt
    priority: int = 0
    run_at: float = 0.0  # time.time() not before which it runs; 0: as soon as possible
    max_retry: int = 1  # calls at most, lost runs included
    retry_delay: float | None = None  # None: the engine looks the policy up again by name
    rerun_lost: bool = True  # False: a run lost with its process fails with WorkerLost


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimedTask:
    """One attempt that this process now holds the lease of."""

    id: int
    engine: str
    name: str
    args: str  # JSON text of a list
    kwargs: str  # JSON text of an object
    headers: str  # JSON text of an object
    priority: int
    attempt: int  # 1-based number of this attempt (lost runs counted)
    max_retry: int
    retry_delay: float | None
    rerun_lost: bool
    enqueued_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """How one claimed attempt ended: done with a value, or failed with an error."""

    task_id: int
    attempt: int  # the attempt it ends, as claimed: a stale one (lease lost) is refused
    state: Literal["done", "failed"]
    return_value: object = None  # stored as JSON when it serialises, else as its repr
    error_type: str | None = None
    error_message: str | None = None
    error_traceback: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskRecord:
    """One row as the dashboard, ``result(id)`` and ``retry`` read it."""

    id: int
    engine: str
    name: str
    args: str
    kwargs: str
    headers: str
    priority: int
    state: TaskState
    attempts: int
    max_retry: int
    run_at: float
    enqueued_at: float
    started_at: float | None
    finished_at: float | None
    lease_owner: str | None
    return_value: Any  # the loaded JSON, or None
    return_repr: str | None  # the value's repr when it was not JSON
    error_type: str | None
    error_message: str | None
    error_traceback: str | None
    retry_of: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreStats:
    """Counts of one engine's rows, as every process sharing the store sees them."""

    pending: int  # due or delayed, first attempts and retries waiting alike
    delayed: int  # of those, not due yet
    running: int
    done: int
    failed: int
    cancelled: int
    retried: int  # attempts beyond the first, over the rows still kept

    @property
    def total(self) -> int:
        return self.pending + self.running + self.done + self.failed + self.cancelled
