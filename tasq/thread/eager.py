"""Eager mode (``eager=True``, ``tasq.testing.eager()``): each task runs inside ``enqueue``.

The task and its retries run in the caller's thread, its coroutine on the engine's loop
thread, and it is reported as in a worker; with ``propagate`` its error is raised again
from ``enqueue``. ``run_attempts`` also runs the retry of a task whose engine is closing.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Awaitable
from types import CoroutineType
from typing import TYPE_CHECKING, Any

from ..context import set_current_engine
from ..hooks import _running, call_guarded
from ..task import TaskOptions
from .entry import Call, Entry, TaskState, running_task
from .outcomes import report_done, settle_error, spawn
from .workers import attempt

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
    # A task enqueued by a callback of another eager task (an on_failed's follow-up) must
    # not take that task's failure away from the enqueue that propagates it.
    outer = getattr(_failure, "error", None)
    _failure.error = None
    try:
        run_attempts(engine, entry)
    finally:
        error, _failure.error = _failure.error, outer
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
    """One attempt, settled.

    An eager attempt runs as a worker would run it: in a context of its own (it sees none
    of the caller's context variables, such as a web framework's request, only its engine),
    and a retry starts after the failed attempt's ``except`` block, never inside it (no
    stale ``sys.exc_info()``, no "During handling of the above exception" chained on).
    """
    task_id = entry[0]
    engine._detached[task_id] = entry
    failure: BaseException | None = None
    try:
        if engine._eager:
            value = contextvars.Context().run(_attempt_as_a_worker, engine, entry, _running.get())
        else:
            value = attempt(engine, entry)
    except BaseException as error:  # noqa: BLE001 - a task's exception is its outcome
        failure = error
    if failure is not None:
        if engine._detached.pop(task_id, None) is not None:
            settle_error(engine, entry, failure, counts)
        failure = None  # this frame is in its traceback: no reference cycle left behind
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


def _attempt_as_a_worker(engine: ThreadEngine, entry: Entry, running: Any) -> object:
    set_current_engine(engine)  # in this fresh context only: the engine a worker would name
    _running.set(running)  # and current_task(), as the worker sets it
    return attempt(engine, entry)


def _await_here(
    engine: ThreadEngine, task_id: int, awaitable: Awaitable[object]
) -> tuple[object, BaseException | None]:
    try:
        for wrap in engine._hooked.around_coroutine:
            awaitable = wrap(task_id, awaitable)
        if engine._loop.is_current():
            return _run_beside(awaitable), None  # an async task enqueued it: its loop is busy
        return engine._loop.run(awaitable), None
    except BaseException as error:  # noqa: BLE001 - a task's exception is its outcome
        return None, error


def _run_beside(awaitable: Awaitable[object]) -> object:
    """Run ``awaitable`` to its end on a loop of its own, from a thread whose loop is running."""
    outcome: list[object] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(asyncio.run(_as_coroutine(awaitable)))
        except BaseException as error:  # noqa: BLE001 - handed back to the caller
            failure.append(error)

    thread = threading.Thread(target=run, name="tasq-eager-nested-loop", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]


async def _as_coroutine(awaitable: Awaitable[object]) -> object:
    return await awaitable
