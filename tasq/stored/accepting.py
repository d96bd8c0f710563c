"""What a store accepts: a call it can find again by name, with JSON arguments.

The rules are the broker engines' (``tasq.payload``): a ``@background`` function, or (with
``submit``) a module-level function; a lambda, a closure, a bound method or a Task object
is a ``TypeError`` at ``enqueue``, with nothing stored.
"""

from __future__ import annotations

import time
import types
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from ..checks import check_schedule
from ..payload import check_json, resolve_call, resolve_submit, task_name
from ..store import NewTask
from ..task import TaskOptions

if TYPE_CHECKING:
    from ..engine import TasQ

__all__ = ["Accepted", "accepted_call", "accepted_submit"]

_PLAIN = TaskOptions()
# The name each function was found sendable under: the checks behind it never change.
_names: dict[tuple[Callable[..., object], str | None], str] = {}


class Accepted(NamedTuple):
    """One checked call: the row to store, and what runs it in this process."""

    row: NewTask
    fn: Callable[..., object]
    options: TaskOptions
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


def accepted_call(
    engine: TasQ, task: object, delay: float | timedelta | datetime | None, priority: int | None
) -> Accepted:
    """``enqueue``'s task (``fn.task(*args)``, a ``@background`` function) checked for the store."""
    fn, args, kwargs, options = resolve_call(task)
    return accepted(engine, fn, args, kwargs, options, delay, priority)


def accepted_submit(engine: TasQ, fn: object, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Accepted:
    """``submit``'s function: a ``@background`` one, or a plain module-level function."""
    if type(fn) is types.FunctionType:
        return accepted(engine, fn, args, kwargs, _PLAIN, None, None)
    function, args_, kwargs_, options = resolve_submit(fn, args, kwargs)
    return accepted(engine, function, args_, kwargs_, options, None, None)


def accepted(
    engine: TasQ,
    fn: Callable[..., object],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    options: TaskOptions,
    delay: float | timedelta | datetime | None,
    priority: int | None,
) -> Accepted:
    key = (fn, options.name)
    name = _names.get(key)
    if name is None:
        name = _names[key] = task_name(fn, options)
    check_json(name, args, kwargs)
    seconds, priority = check_schedule(delay, priority, options)
    retry_delay = engine.retry_delay if options.retry_delay is None else options.retry_delay
    row = NewTask(
        engine=engine.name,
        name=name,
        args=list(args),
        kwargs=kwargs,
        priority=priority,
        run_at=time.time() + seconds if seconds > 0 else 0.0,
        max_retry=engine.max_retry if options.max_retry is None else options.max_retry,
        retry_delay=None if callable(retry_delay) else float(retry_delay),
        rerun_lost=options.rerun_lost,
    )
    return Accepted(row, fn, options, args, kwargs)
