from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from .exceptions import RetryTask

__all__ = ["Hooks", "RunningTask", "current_task"]

T = TypeVar("T")

logger = logging.getLogger("tasq")


@dataclass(frozen=True, slots=True)
class RunningTask:
    """The attempt that runs in this thread (or ``async def`` task), as ``current_task()`` gives it."""

    id: int
    name: str
    attempt: int
    headers: Mapping[str, str]


# What an engine sets while an attempt runs: a function that makes the record and its
# argument, so that an attempt nobody asks about costs one tuple and no record.
_running: ContextVar[tuple[Callable[[Any], RunningTask], Any] | None] = ContextVar("tasq_running", default=None)


def current_task() -> RunningTask | None:
    """The attempt running here: in ``before_task``, ``around_task``, ``after_retry``,
    ``after_done``, ``after_failed`` and the task itself, on an engine with hooks; else None."""
    running = _running.get()
    return None if running is None else running[0](running[1])


class Hooks:
    """Lifecycle hooks that an integration adds to an engine with ``engine.add_hooks()``.

    Override only what you need: the engine calls just the methods a subclass overrides,
    so an unused hook costs nothing. An exception raised by a hook is logged and never
    ends a worker; one raised by ``around_task`` or ``around_coroutine`` fails that attempt.
    """

    def before_enqueue(self, task_id: int, name: str, headers: dict[str, str]) -> None:
        """Called in the enqueuing thread before the task is handed over; the str entries
        added to ``headers`` travel with the task (``current_task().headers`` where it runs)."""

    def after_enqueue(self, task_id: int) -> None:
        """Called in the enqueuing thread once the engine has accepted a task."""

    def before_task(self, task_id: int, attempt: int) -> None:
        """Called before each attempt, in the thread that runs it."""

    def around_task(self, task_id: int, call: Callable[[], T]) -> T:
        """Runs one attempt of a task; wrap ``call()`` in whatever context the task needs."""
        return call()

    def around_coroutine(self, task_id: int, coro: Awaitable[T]) -> Awaitable[T]:
        """Wraps the coroutine of an ``async def`` task before the engine's loop runs it."""
        return coro

    def after_retry(self, task_id: int, error: RetryTask) -> None:
        """Called when an attempt raised ``RetryTask`` and another attempt is scheduled."""

    def after_done(self, task_id: int, return_value: object) -> None:
        """Called once when a task succeeded, before ``on_done``."""

    def after_failed(self, task_id: int, error: BaseException) -> None:
        """Called once when a task failed or was cancelled, before ``on_failed``."""

    def worker_started(self) -> None:
        """Called in each worker thread when it starts."""

    def worker_stopped(self) -> None:
        """Called in each worker thread when it exits, to release what the thread held."""


HOOK_NAMES = tuple(name for name, value in vars(Hooks).items() if callable(value) and not name.startswith("_"))


def overridden(hooks: Hooks, name: str) -> bool:
    return getattr(type(hooks), name) is not getattr(Hooks, name)


def checked_headers(task_id: int, headers: dict[str, str]) -> dict[str, str]:
    """``headers`` as hooks left them, less (and logged) any entry that is not str to str."""
    bad = [key for key, value in headers.items() if type(key) is not str or type(value) is not str]
    for key in bad:
        logger.error(
            "task %d: header %r dropped: headers map str to str, not %s",
            task_id,
            key,
            type(headers[key]).__name__,
            extra={"task_id": task_id},
        )
        del headers[key]
    return headers
