"""``@periodic``: a ``@background`` function that a started engine also enqueues on its schedule."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import timedelta, tzinfo
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar

from ..decorators import BackgroundFunction, background
from ..task import RetryDelay, TaskOptions
from . import registry
from .schedule import Schedule, make_schedule

if TYPE_CHECKING:
    from ..engine import TasQ

__all__ = ["PeriodicFunction", "periodic"]

P = ParamSpec("P")
R = TypeVar("R")


class PeriodicFunction(BackgroundFunction[P, R]):
    """A ``@background`` function with a schedule: still callable and enqueueable by hand."""

    def __init__(self, fn: Callable[P, R], options: TaskOptions, engine: TasQ | None, schedule: Schedule) -> None:
        super().__init__(fn, options, engine)
        self.schedule = schedule

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        return self  # a scheduled run has no instance to bind: periodic functions are plain functions

    def __repr__(self) -> str:
        return f"<periodic {self.options.name} {self.schedule!r}>"


class Periodic(Protocol):
    def __call__(self, fn: Callable[P, R], /) -> PeriodicFunction[P, R]: ...


def periodic(
    *,
    cron: str | None = None,
    every: float | timedelta | None = None,
    tz: str | tzinfo | None = None,
    max_retry: int | None = None,
    retry_delay: RetryDelay | None = None,
    priority: int = 0,
    name: str | None = None,
    tasq: TasQ | None = None,
) -> Periodic:
    """Run a function on a schedule, once per slot across the app's processes.

    ``cron``: a cron expression (5 fields; or 6, seconds first), evaluated in ``tz`` (an IANA
    name such as ``"Europe/Paris"`` or a ``tzinfo``; default UTC). ``every``: seconds or a
    ``timedelta``, counted from the Unix epoch. Exactly one of them. The other options are
    ``@background``'s; ``tasq`` binds the function to one engine (``engine.periodic`` does too).
    A bad schedule is a ``ValueError``/``TypeError`` here, at decoration.
    """
    schedule = make_schedule(cron, every, tz)
    as_background = background(max_retry=max_retry, retry_delay=retry_delay, priority=priority, name=name, tasq=tasq)

    def decorate(fn: Callable[P, R], /) -> PeriodicFunction[P, R]:
        made = as_background(fn)  # the checks and the task name of @background
        try:
            inspect.signature(fn).bind()
        except TypeError:
            raise TypeError(
                f"@periodic function {made.options.name} must be callable with no arguments: each run is fn()"
            ) from None
        except ValueError:
            pass  # no signature to read (a builtin): trust it
        function = PeriodicFunction(made.fn, made.options, made.engine, schedule)
        registry.register(function)
        return function

    return decorate
