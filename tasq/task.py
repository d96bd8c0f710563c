from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

__all__ = ["Stats", "Task", "TaskOptions", "TaskResult", "TaskStatus"]


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
