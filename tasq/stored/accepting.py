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
from typing import TYPE_CHECKING, Any

from ..payload import attempt_policy, checked_call, resolve_call, resolve_submit
from ..store import ClaimedTask
from ..store.writes import (
    ARGS,
    ENGINE,
    ENQUEUED_AT,
    KWARGS,
    MAX_RETRY,
    NAME,
    PRIORITY,
    RERUN_LOST,
    Row,
    encode,
    pending,
    retry_delay_of,
)
from ..task import TaskOptions

if TYPE_CHECKING:
    from ..engine import TasQ

__all__ = ["Accepted", "accepted", "accepted_call", "accepted_submit", "claimed_run"]

_PLAIN = TaskOptions()


# One checked call: the row to store (pending), then what runs it in this process: the
# function, its options, its arguments, and whether it is delayed (stored pending, then,
# whatever the workers here are doing). A plain tuple: enqueue_many makes one per task.
Accepted = tuple[Row, Callable[..., object], TaskOptions, tuple[Any, ...], dict[str, Any], bool]


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
    now = time.time()
    row = pending(
        engine.name,
        name,
        encode(args, "the arguments") if args else "[]",
        encode(kwargs, "the keyword arguments") if kwargs else "{}",
        "{}",
        priority,
        now + seconds if seconds > 0 else now,
        max_retry,
        retry_delay,
        options.rerun_lost,
        now,
    )
    return row, fn, options, args, kwargs, seconds > 0


def claimed_run(task_id: int, row: Row, headers: str) -> ClaimedTask:
    """The run of a task stored claimed by this process, from the row as it was stored."""
    return ClaimedTask(
        id=task_id,
        engine=row[ENGINE],
        name=row[NAME],
        args=row[ARGS],
        kwargs=row[KWARGS],
        headers=headers,
        priority=row[PRIORITY],
        attempt=1,
        max_retry=row[MAX_RETRY],
        retry_delay=retry_delay_of(row),
        rerun_lost=bool(row[RERUN_LOST]),
        enqueued_at=row[ENQUEUED_AT],
    )
