from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

__all__ = ["BackgroundCall", "Stats", "Task", "TaskOptions", "TaskResult", "TaskStatus", "utc"]


@runtime_checkable
class Task(Protocol):
    """Anything with a ``do()`` method (plain or ``async def``) is a task."""

    def do(self) -> object: ...


class TaskStatus(enum.StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskResult:
    """What ``TasQ.result(id)`` knows of one task."""

    id: int
    status: TaskStatus
    attempts: int
    return_value: object
    error: BaseException | None
    enqueued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.status in (TaskStatus.DONE, TaskStatus.FAILED)


@dataclass(frozen=True, slots=True, kw_only=True)
class Stats:
    """Counts since the engine was made; ``failed`` includes ``cancelled``."""

    enqueued: int
    pending: int
    running: int
    done: int
    failed: int
    retried: int
    cancelled: int
    workers: int


RetryDelay = float | Callable[[int], float]


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskOptions:
    """Per-task overrides of the engine's settings; ``None`` keeps the engine's."""

    max_retry: int | None = None
    retry_delay: RetryDelay | None = None
    priority: int = 0
    name: str | None = None
    time_limit: float | None = None
    # With a store: False fails a run lost with its process (WorkerLost) instead of running it again.
    rerun_lost: bool = True
    # True when nothing overrides the engine: such a task takes the engine's shortest path.
    plain: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        plain = self.max_retry is None and self.retry_delay is None and self.priority == 0 and self.time_limit is None
        object.__setattr__(self, "plain", plain)


class BackgroundCall:
    """One call of a ``@background`` function, as a Task: ``do()`` makes the call."""

    __slots__ = ("args", "fn", "kwargs", "tasq_options")

    def __init__(
        self, fn: Callable[..., object], args: tuple[Any, ...], kwargs: dict[str, Any], options: TaskOptions
    ) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.tasq_options = options

    def do(self) -> object:
        return self.fn(*self.args, **self.kwargs)

    def __repr__(self) -> str:
        arguments = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"<BackgroundCall {self.tasq_options.name}({', '.join(arguments)})>"


def utc(timestamp: float) -> datetime:
    """A ``time.time()`` stamp as the aware datetime a TaskResult holds."""
    return datetime.fromtimestamp(timestamp, UTC)
