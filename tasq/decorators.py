from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, Protocol, TypeVar, overload

from .checks import check_bool, check_int, check_retry_delay, check_schedule, check_time_limit
from .context import current_engine
from .task import BackgroundCall, RetryDelay, TaskOptions

if TYPE_CHECKING:
    from .engine import TasQ

__all__ = ["Background", "BackgroundCall", "BackgroundFunction", "background"]

# Where enqueue_on_commit finds Django's transaction.on_commit: the Django integration, which
# core does not import (it would import Django).
_DJANGO_DB = "tasq.contrib.django.db"

P = ParamSpec("P")
R = TypeVar("R")


class BackgroundFunction(Generic[P, R]):
    """A function that still runs when called, and runs in the background with ``enqueue``."""

    def __init__(self, fn: Callable[P, R], options: TaskOptions, engine: TasQ | None) -> None:
        if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
            raise TypeError(f"@background cannot take generator function {fn.__qualname__}: a task must return")
        self.fn = fn
        self.options = options
        self.engine = engine
        functools.update_wrapper(self, fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.fn(*args, **kwargs)

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return BackgroundFunction(self.fn.__get__(instance, owner), self.options, self.engine)

    def task(self, *args: P.args, **kwargs: P.kwargs) -> BackgroundCall:
        """This call as a Task object, for ``engine.enqueue()``."""
        return BackgroundCall(self.fn, args, kwargs, self.options)

    def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> int:
        """Run this call in the background; returns its task id."""
        return self._engine()._enqueue_call(self.fn, args, kwargs, self.options)

    async def aenqueue(self, *args: P.args, **kwargs: P.kwargs) -> int:
        """``enqueue`` for async code: waiting for room in a full queue does not block the loop."""
        return await self._engine().aenqueue(BackgroundCall(self.fn, args, kwargs, self.options))

    def enqueue_with(
        self,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        delay: float | timedelta | datetime | None = None,
        priority: int | None = None,
        timeout: float | None = None,
    ) -> int:
        """``enqueue`` with a delay, a priority or a wait bound for this one call."""
        call = BackgroundCall(self.fn, tuple(args), dict(kwargs or {}), self.options)
        return self._engine().enqueue(call, delay=delay, priority=priority, timeout=timeout)

    def enqueue_on_commit(
        self,
        args: tuple[Any, ...] | list[Any] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        using: str | None = None,
        delay: float | timedelta | datetime | None = None,
        priority: int | None = None,
    ) -> None:
        """Django: ``enqueue_with`` once the transaction on database ``using`` commits.

        Nothing is enqueued if it rolls back; outside a transaction it is enqueued at once.
        The call's arguments go in a tuple and a dict, as with ``enqueue_with``, so that
        ``using`` always names the database, even for a function with a ``using`` parameter.
        """
        if not isinstance(args, (tuple, list)):
            raise TypeError(f"args must be a tuple of the call's arguments, not {type(args).__name__}")
        if kwargs is not None and not isinstance(kwargs, dict):
            raise TypeError(f"kwargs must be a dict of the call's keyword arguments, not {type(kwargs).__name__}")
        check_schedule(delay, priority, self.options)
        enqueue = functools.partial(self.enqueue_with, tuple(args), dict(kwargs or {}), delay=delay, priority=priority)
        # Django only when asked for: its integration's on_commit, found by name.
        django_db: Any = importlib.import_module(_DJANGO_DB)
        django_db.on_commit(enqueue, using)

    def _engine(self) -> TasQ:
        return self.engine if self.engine is not None else current_engine()

    def __repr__(self) -> str:
        return f"<background {self.options.name}>"


class Background(Protocol):
    def __call__(self, fn: Callable[P, R], /) -> BackgroundFunction[P, R]: ...


@overload
def background(fn: Callable[P, R], /) -> BackgroundFunction[P, R]: ...


@overload
def background(
    *,
    max_retry: int | None = None,
    retry_delay: RetryDelay | None = None,
    priority: int = 0,
    name: str | None = None,
    time_limit: float | None = None,
    rerun_lost: bool = True,
    tasq: TasQ | None = None,
) -> Background: ...


def background(
    fn: Callable[P, R] | None = None,
    /,
    *,
    max_retry: int | None = None,
    retry_delay: RetryDelay | None = None,
    priority: int = 0,
    name: str | None = None,
    time_limit: float | None = None,
    rerun_lost: bool = True,
    tasq: TasQ | None = None,
) -> BackgroundFunction[P, R] | Background:
    """Make a function enqueueable: ``fn(...)`` runs it now, ``fn.enqueue(...)`` in the background.

    ``rerun_lost=False`` (with a store): a run lost with its process fails with ``WorkerLost``
    instead of running again, for a task that must never run twice.
    """
    if max_retry is not None:
        check_int("max_retry", max_retry, minimum=1)
    if retry_delay is not None:
        retry_delay = check_retry_delay(retry_delay)
    check_schedule(None, priority, None)
    time_limit = check_time_limit("time_limit", time_limit)
    check_bool("rerun_lost", rerun_lost)
    if name is not None and (not isinstance(name, str) or not name):
        raise TypeError(f"name must be a non-empty str, not {name!r}")
    if tasq is not None:
        from .engine import TasQ

        if not isinstance(tasq, TasQ):
            raise TypeError(f"tasq must be a TasQ engine, not {type(tasq).__name__}")

    def decorate(fn: Callable[P, R], /) -> BackgroundFunction[P, R]:
        if not callable(fn):
            raise TypeError(f"@background needs a function, not {type(fn).__name__}")
        task_name = name or f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
        options = TaskOptions(
            max_retry=max_retry,
            retry_delay=retry_delay,
            priority=priority,
            name=task_name,
            time_limit=time_limit,
            rerun_lost=rerun_lost,
        )
        return BackgroundFunction(fn, options, tasq)

    if fn is None:
        return decorate  # type: ignore[return-value]
    return decorate(fn)
