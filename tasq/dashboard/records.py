"""What a dashboard shows, as immutable records: one ``Snapshot`` per look.

Times are ``time.time()`` stamps (seconds since the epoch, UTC), durations are seconds;
both are what the JSON carries and what the page turns into ages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..task import Stats

__all__ = ["Failure", "NameSummary", "Periodic", "Snapshot", "TaskLine", "Waiting"]

Waiting = Literal["pending", "delayed", "retrying"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskLine:
    """A task that runs now or waits: ``state`` is ``"running"`` or a ``Waiting`` state."""

    task_id: int
    name: str | None  # None: the source cannot tell yet (see Snapshot.blind)
    state: Literal["running", "pending", "delayed", "retrying"]
    attempt: int  # the attempt running, or the next one to run
    enqueued_at: float | None
    started_at: float | None  # of the attempt running now
    run_at: float | None  # when a delayed task or a retry falls due, if known
    args: str | None  # a short repr of the arguments; None when hidden or unknown


@dataclass(frozen=True, slots=True, kw_only=True)
class NameSummary:
    """One task name over the finished tasks the source keeps."""

    name: str
    done: int
    failed: int
    rate: float  # finished per minute, over the last minute
    p50: float | None  # duration of the last attempt, seconds
    p95: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    """A task that failed (or was cancelled), newest first in a snapshot."""

    task_id: int
    name: str | None
    error: str  # "ExceptionType: message"
    traceback: str
    attempts: int
    finished_at: float
    cancelled: bool
    args: str | None
    retried_as: int | None = None  # the id that ``retry`` gave it, once retried from here


@dataclass(frozen=True, slots=True, kw_only=True)
class Periodic:
    """A schedule: the task it enqueues and when it next does."""

    name: str
    schedule: str  # "*/5 * * * *", "every 300s"
    next_run: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """Everything a dashboard page or JSON response shows, read at ``taken_at``."""

    engine: str
    scope: str  # what the source sees: "this process", "every process sharing the store", ...
    taken_at: float
    stats: Stats
    names: tuple[NameSummary, ...]
    running: tuple[TaskLine, ...]
    waiting: tuple[TaskLine, ...]
    periodic: tuple[Periodic, ...]
    failures: tuple[Failure, ...]
    can_cancel: bool
    can_retry: bool
    blind: tuple[str, ...] = ()  # what this source cannot see, said plainly
