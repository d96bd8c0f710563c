"""Eager mode (``eager=True``, ``tasq.testing.eager()``): each task runs inside ``enqueue``.

The task and its retries run in the caller's thread, its coroutine on the engine's loop
thread, and it is reported as in a worker; with ``propagate`` its error is raised again
from ``enqueue``. ``run_attempts`` also runs the retry of a task whose engine is closing.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable
from types import CoroutineType
from typing import TYPE_CHECKING

from ..hooks import _running, call_guarded
from ..task import TaskOptions
from .entry import Call, Entry, TaskState, running_task
from .outcomes import report_done, settle_error, spawn

if TYPE_CHECKING:
    from .engine import ThreadEngine

__all__ = ["note_failure", "run_attempts", "run_eagerly"]

_CoroutineType = CoroutineType
_failure = threading.local()  # how the last eager task of this thread failed, if it did


def note_failure(error: BaseException) -> None:
    """An eager task of this thread failed with ``error`` (for ``propagate``)."""
    _failure.error = error


def run_eagerly(engine: ThreadEngine, call: Call, options: TaskOptions | None, priority: int) -> int:
    task_id = next(engine._ids)
    entry: Entry = (task_id, call, TaskState(options, priority))
    if engine._results is not None:
        engine._results.enqueued(task_id)
    if engine._hooked.before_enqueue:
        from .accept import before_enqueue  # accept imports this module

        before_enqueue(engine, task_id, call, entry[2])
    for hook in engine._hooked.after_enqueue:
        call_guarded(hook, task_id)
    _failure.error = None
    run_attempts(engine, entry)
    error, _failure.error = _failure.error, None
    if error is not None and engine._eager_propagate:
        raise error
    return task_id


def run_attempts(engine: ThreadEngine, entry: Entry, counts: list[int] | None = None) -> None:
    """Run an attempt in this thread and settle it (eager mode, retries at close)."""
    if not engine._hooks:
        _run_attempt(engine, entry, counts)
        return
    token = _running.set((running_task, entry))  # current_task() in its hooks and the task
    try:
        _run_attempt(engine, entry, counts)
    finally:
        _running.reset(token)


def _run_attempt(engine: ThreadEngine, entry: Entry, counts: list[int] | None) -> None:
    from .workers import attempt  # the attempt as a worker makes it: hooks, result store

    task_id = entry[0]
    engine._detached[task_id] = entry
    try:
        value = attempt(engine, entry)
    except BaseException as error:  # noqa: BLE001 - a task's exception is its outcome
        if engine._detached.pop(task_id, None) is not None:
            settle_error(engine, entry, error, counts)
        return
    if engine._detached.pop(task_id, None) is None:
        return  # abandoned at exit and already reported
    if value is not None and type(value) is _CoroutineType:
        if not engine._eager:
            spawn(engine, entry, value)
            return
        value, failure = _await_here(engine, task_id, value)
        if failure is not None:
            settle_error(engine, entry, failure, counts)
            return
    report_done(engine, entry, value, counts)


def _await_here(
    engine: ThreadEngine, task_id: int, awaitable: Awaitable[object]
) -> tuple[object, BaseException | None]:
    for wrap in engine._hooked.around_coroutine:
        awaitable = wrap(task_id, awaitable)
    try:
        return engine._loop.run(awaitable), None
    except BaseException as error:  # noqa: BLE001 - a task's exception is its outcome
        return None, error
