from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from .exceptions import RetryTask

__all__ = ["Hooks"]

T = TypeVar("T")


class Hooks:
    """Lifecycle hooks that an integration adds to an engine with ``engine.add_hooks()``.

    Override only what you need: the engine calls just the methods a subclass overrides,
    so an unused hook costs nothing. An exception raised by a hook is logged and never
    ends a worker; one raised by ``around_task`` or ``around_coroutine`` fails that attempt.
    """

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
