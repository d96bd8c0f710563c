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

from ..payload import attempt_policy, checked_call, resolve_call, resolve_submit
from ..store import ClaimedTask, NewTask
from ..store.writes import Row
from ..task import TaskOptions

if TYPE_CHECKING:
    from ..engine import TasQ

__all__ = ["Accepted", "accepted", "accepted_call", "accepted_submit", "claimed_run"]

_PLAIN = TaskOptions()
# Where rows_of puts a row's encoded arguments and its time of acceptance.
_ARGS, _KWARGS, _ENQUEUED_AT = 2, 3, 10


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
    name, seconds, priority = checked_call(fn, args, kwargs, options, delay, priority)
    max_retry, retry_delay = attempt_policy(engine, options)
    row = NewTask(
        engine=engine.name,
        name=name,
        args=list(args),
        kwargs=kwargs,
        priority=priority,
        run_at=time.time() + seconds if seconds > 0 else 0.0,
        max_retry=max_retry,
        retry_delay=retry_delay,
        rerun_lost=options.rerun_lost,
    )
    return Accepted(row, fn, options, args, kwargs)


def claimed_run(task_id: int, task: NewTask, row: Row, headers: str) -> ClaimedTask:
    """The run of a task stored claimed by this process, from the row as it was stored."""
    return ClaimedTask(
        id=task_id,
        engine=task.engine,
        name=task.name,
        args=row[_ARGS],
        kwargs=row[_KWARGS],
        headers=headers,
        priority=task.priority,
        attempt=1,
        max_retry=task.max_retry,
        retry_delay=task.retry_delay,
        rerun_lost=task.rerun_lost,
        enqueued_at=row[_ENQUEUED_AT],
    )
