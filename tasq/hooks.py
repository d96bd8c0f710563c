"""Lifecycle hooks, and what every engine does around them: the guarded calls and the log lines.

The thread engine and a broker's executor both report an outcome through these, so that a
task's failure, cancellation or retry reads the same in the log whichever engine ran it.
Each such record names its engine, as the engine's own lines do: ``engine 'orders': task 7
...`` in the message, and ``extra={"task_id": 7, "engine": "orders"}`` on the record.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from .exceptions import RetryTask

__all__ = [
    "CANCELLED",
    "DONE",
    "FAILED",
    "HOOK_NAMES",
    "RETRIED",
    "HookLists",
    "Hooks",
    "RunningTask",
    "call_guarded",
    "callback_raised",
    "checked_headers",
    "current_task",
    "describe",
    "enabled_for",
    "given_up",
    "hook_raised",
    "log_cancelled",
    "log_cancelled_many",
    "log_failed",
    "log_retry",
    "logger",
    "overridden",
]

logger = logging.getLogger("tasq")
# ``logger.isEnabledFor`` bound once: looking the method up on the logger each time costs
# more than the call itself, and the hot paths ask before every record they might make.
enabled_for = logger.isEnabledFor

# The indices of an engine's outcome counts: [done, failed, retried, cancelled].
DONE, FAILED, RETRIED, CANCELLED = range(4)

T = TypeVar("T")


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


class HookLists:
    """Per lifecycle point, the bound hook methods that the added Hooks subclasses override."""

    __slots__ = HOOK_NAMES

    def __init__(self, hooks: list[Hooks]) -> None:
        for name in HOOK_NAMES:
            setattr(self, name, tuple(getattr(h, name) for h in hooks if overridden(h, name)))

    before_enqueue: tuple[Callable[[int, str, dict[str, str]], object], ...]
    after_enqueue: tuple[Callable[[int], object], ...]
    before_task: tuple[Callable[[int, int], object], ...]
    around_task: tuple[Callable[[int, Callable[[], object]], object], ...]
    around_coroutine: tuple[Callable[[int, Awaitable[object]], Awaitable[object]], ...]
    after_retry: tuple[Callable[[int, RetryTask], object], ...]
    after_done: tuple[Callable[[int, object], object], ...]
    after_failed: tuple[Callable[[int, BaseException], object], ...]
    worker_started: tuple[Callable[[], object], ...]
    worker_stopped: tuple[Callable[[], object], ...]

    def __getitem__(self, name: str) -> tuple[Callable[..., Any], ...]:
        """``hooks["before_task"]``: the same list by its name."""
        if name not in HOOK_NAMES:
            raise KeyError(name)
        found: tuple[Callable[..., Any], ...] = getattr(self, name)
        return found


def call_guarded(hook: Callable[..., object], *args: Any) -> None:
    """Call a hook; what it raises is logged and goes no further (a hook never ends a worker)."""
    try:
        hook(*args)
    except BaseException as error:  # noqa: BLE001 - a hook never ends a worker
        hook_raised(hook, args[0] if args else None, error)


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


def hook_raised(hook: Callable[..., object], task_id: int | None, error: BaseException) -> None:
    logger.error("hook %s raised for task %s", describe(hook), task_id, exc_info=error, extra={"task_id": task_id})


def callback_raised(engine: str, which: str, task_id: int, error: BaseException) -> None:
    """``on_done`` or ``on_failed`` of engine ``engine`` raised ``error`` for ``task_id``."""
    logger.error(
        "engine %r: %s callback raised for task %d",
        engine,
        which,
        task_id,
        exc_info=error,
        extra={"task_id": task_id, "engine": engine},
    )


def log_failed(engine: str, task_id: int, what: str, error: BaseException) -> None:
    """The failure record: ERROR, the traceback from the exception object itself (callers
    that must work to find ``what`` check ``enabled_for(logging.ERROR)`` first)."""
    logger.error(
        "engine %r: task %d (%s) failed: %s: %s",
        engine,
        task_id,
        what,
        type(error).__name__,
        error,
        exc_info=error,
        extra={"task_id": task_id, "engine": engine},
    )


def log_cancelled(engine: str, task_id: int, error: BaseException, level: int = logging.WARNING) -> None:
    """One task cancelled: a WARNING, or DEBUG when a summary line (``log_cancelled_many``) follows."""
    if not enabled_for(level):
        return  # no record to make
    logger.log(
        level, "engine %r: task %d cancelled: %s", engine, task_id, error, extra={"task_id": task_id, "engine": engine}
    )


def log_cancelled_many(engine: str, task_ids: list[int], why: str) -> None:
    """One WARNING for the tasks cancelled together (close, exit), not one line per task."""
    shown = ", ".join(map(str, task_ids[:20])) + (", ..." if len(task_ids) > 20 else "")
    logger.warning(
        "engine %r cancelled %d task(s) %s: %s",
        engine,
        len(task_ids),
        why,
        shown,
        extra={"task_id": None, "task_ids": task_ids, "engine": engine},
    )


def given_up(reason: str) -> str:
    """The error message of a task still running when its engine shut down: not waited for any
    longer, and not stopped either (a thread cannot be), so its end, if it comes, goes unreported."""
    return f"given up while still running ({reason}): it may yet finish, but its outcome is not reported"


def log_retry(engine: str, task_id: int, attempt: int, max_retry: int, delay: float, error: RetryTask) -> None:
    """A retry of ``task_id`` asked for by its attempt ``attempt``: a WARNING."""
    if not enabled_for(logging.WARNING):
        return  # no record to make
    logger.warning(
        "engine %r: task %d asked for a retry (attempt %d of %d), next attempt in %.3fs: %s",
        engine,
        task_id,
        attempt,
        max_retry,
        delay,
        error,
        extra={"task_id": task_id, "attempt": attempt, "engine": engine},
    )


def describe(fn: object) -> str:
    """A task's or a hook's name for the log: its ``name=``, else ``module.qualname``.

    User objects answer ``getattr`` with their own code: whatever that raises, the log line
    (and the worker writing it) goes on with the name of the type.
    """
    try:
        return _describe(fn)
    except BaseException:  # noqa: BLE001 - a name for a log line never ends a worker
        return type(fn).__qualname__


def _describe(fn: object) -> str:
    inner = getattr(fn, "tasq_call", None)  # a call under a time limit: the call's name
    if inner is not None:
        return describe(inner)
    options = getattr(getattr(fn, "__self__", None), "tasq_options", None)  # BackgroundCall.do
    name = getattr(options, "name", None)
    if isinstance(name, str) and name:
        return name
    target = getattr(fn, "func", fn)  # functools.partial
    qualname = getattr(target, "__qualname__", None) or type(target).__qualname__
    module = getattr(target, "__module__", None)
    return f"{module}.{qualname}" if module else str(qualname)
