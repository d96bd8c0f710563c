"""Outcomes and exactly-once: each accepted id is reported done or failed once, by one side.

Who reports a task:

- the worker whose slot holds its id (``_slots[index]``), once the attempt returns;
- for a task running outside a slot (a coroutine on the loop thread, a retry run inline at
  close, an eager task): whoever pops its id from ``_detached`` first;
- at exit, ``abandon_running`` claims the ids still in the slots (``_abandoned``) and
  reports them cancelled; a worker whose task ends after that finds its id claimed
  (``claim``) and stays silent. Workers clear their slot before they look at
  ``_abandoning``, and ``abandon_running`` sets it before it reads the slots, so no id is
  missed or reported twice.

A retry is not an outcome: ``settle_error`` schedules the next attempt (see ``tasq.retry``),
or, called by a worker with ``here=True``, hands a retry that is due now back to that worker,
which runs it at once (``workers.run_again``), outside the except clause of the attempt before.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import time
from collections.abc import Awaitable
from logging import ERROR
from queue import Empty
from types import CoroutineType
from typing import TYPE_CHECKING

from .. import lifecycle
from ..exceptions import RetryTask, TaskCancelled
from ..hooks import (
    CANCELLED,
    DONE,
    FAILED,
    RETRIED,
    _running,
    call_guarded,
    callback_raised,
    describe,
    enabled_for,
    log_cancelled,
    log_cancelled_many,
    log_failed,
    log_retry,
)
from ..retry import next_attempt
from ..task import TaskStatus
from .backpressure import release_space
from .entry import TOKEN, Entry, TaskState, nothing, running_task
from .priority import make_ready, pop_token

if TYPE_CHECKING:
    from .engine import ThreadEngine

__all__ = [
    "abandon_running",
    "cancel",
    "cancel_all",
    "cancel_queued",
    "claim",
    "count",
    "release_when_idle",
    "report_done",
    "report_failed",
    "settle",
    "settle_error",
    "spawn",
]

_CoroutineType = CoroutineType


def settle(engine: ThreadEngine, entry: Entry, value: object, counts: list[int] | None) -> None:
    """An attempt returned ``value``: a coroutine goes on the loop, anything else is done."""
    if value is not None and type(value) is _CoroutineType:
        spawn(engine, entry, value)
    else:
        report_done(engine, entry, value, counts)


def spawn(engine: ThreadEngine, entry: Entry, coro: Awaitable[object]) -> None:
    """Run an attempt's coroutine on the engine's loop, through its ``around_coroutine`` hooks.

    An error here (a hook that raised, no thread at interpreter shutdown) is settled after
    the ``except`` clause that caught it: at close, a retry it asks for runs at once in this
    thread (``settle_error``), and must not run inside the handling of this attempt's error.
    """
    task_id = entry[0]
    failure: BaseException | None = None
    try:
        for wrap in engine._hooked.around_coroutine:
            coro = wrap(task_id, coro)
    except BaseException as error:  # noqa: BLE001 - a hook that raises fails that attempt
        failure = error
    if failure is None:
        engine._detached[task_id] = entry
        try:
            engine._loop.spawn(coro, functools.partial(_async_outcome, engine, entry), contextvars.copy_context())
        except RuntimeError as error:  # no thread can start at interpreter shutdown
            engine._detached.pop(task_id, None)
            failure = error
    if failure is not None:
        _close_quietly(coro)
        settle_error(engine, entry, failure, None)
        failure = None  # this frame is in its traceback: no reference cycle left behind


def _async_outcome(engine: ThreadEngine, entry: Entry, value: object, error: BaseException | None) -> None:
    if engine._detached.pop(entry[0], None) is None:
        return  # abandoned at exit and already reported
    token = _running.set((running_task, entry)) if engine._hooks else None  # current_task() in its hooks
    try:
        if error is None:
            report_done(engine, entry, value, None)
        else:
            settle_error(engine, entry, error, None)
    finally:
        if token is not None:
            _running.reset(token)
    if engine._closed:
        release_when_idle(engine)


def release_when_idle(engine: ThreadEngine) -> None:
    """A closed engine whose last task was reported after close() returned: end its loop thread."""
    if engine._outstanding() <= 0:
        engine._loop.stop()
        lifecycle.forget(engine)


def settle_error(
    engine: ThreadEngine, entry: Entry, error: BaseException, counts: list[int] | None, here: bool = False
) -> Entry | None:
    """An attempt raised ``error``: the task fails, or (``RetryTask``) its next attempt is planned.

    With ``here`` (a worker calling), a next attempt due now is returned for the caller to
    run itself; otherwise the result is None, and at close such an attempt runs inside this
    call: a caller without ``here`` calls it after the ``except`` clause that caught ``error``.
    """
    if not isinstance(error, RetryTask):
        report_failed(engine, entry, error, counts)
        return None
    task_id, call, state = entry
    attempt = 1 if state is None else state.attempt
    options = None if state is None else state.options
    max_retry = engine.max_retry if options is None or options.max_retry is None else options.max_retry
    retry_delay = engine.retry_delay if options is None or options.retry_delay is None else options.retry_delay
    failure, delay = next_attempt(task_id, attempt, max_retry, error, retry_delay)
    if failure is not None:
        report_failed(engine, entry, failure, counts)
        return None
    if engine._abandoning and not claim(engine, task_id):
        return None
    if counts is not None:
        counts[RETRIED] += 1  # inline: this runs once per retry
    else:
        count(engine, RETRIED, None)
    log_retry(engine.name, task_id, attempt, max_retry, delay, error)
    for hook in engine._hooked.after_retry:
        call_guarded(hook, task_id, error)
    if state is None:
        state = TaskState(None, 0)
    state.attempt = attempt + 1  # after the hooks: current_task() there is the attempt that ended
    entry = (task_id, call, state)
    if engine._eager:
        from .eager import run_attempts  # eager mode runs each retry at once, in this thread

        run_attempts(engine, entry)
    elif delay > 0:
        if not engine._scheduler.schedule(time.monotonic() + delay, entry):
            cancel(engine, entry)
    elif here:
        return entry  # the worker runs it now, as the seed's in-place retry loop does
    elif engine._closed:
        # A graceful close still finishes what runs, so the retry runs here and now:
        # queued, it would land behind the workers' stop signals.
        from .eager import run_attempts

        run_attempts(engine, entry, counts)
    else:
        make_ready(engine, entry)
    return None


def report_done(engine: ThreadEngine, entry: Entry, value: object, counts: list[int] | None) -> None:
    task_id, _, state = entry
    if engine._abandoning and not claim(engine, task_id):
        return
    if engine._results is not None:
        engine._results.finished(task_id, TaskStatus.DONE, 1 if state is None else state.attempt, value, None)
    for hook in engine._hooked.after_done:
        call_guarded(hook, task_id, value)
    on_done = engine._on_done
    if on_done is not None:
        try:
            on_done(task_id)
        except BaseException as error:  # noqa: BLE001 - a callback never ends a worker
            callback_raised(engine.name, "on_done", task_id, error)
    if counts is not None:
        counts[DONE] += 1  # inline: this runs once per task
    else:
        count(engine, DONE, None)
    if engine._joiners:
        engine._notify_joiners()


def report_failed(
    engine: ThreadEngine,
    entry: Entry,
    error: BaseException,
    counts: list[int] | None,
    claimed: bool = False,
    log_level: int = logging.WARNING,
) -> None:
    task_id, call, state = entry
    if engine._abandoning and not claimed and not claim(engine, task_id):
        return
    if engine._eager:
        from .eager import note_failure

        note_failure(error)
    cancelled = isinstance(error, TaskCancelled)
    attempts = 1 if state is None else state.attempt
    if cancelled:
        attempts -= 1  # the attempt that was due did not run
    if state is not None and state.holds_slot:
        state.holds_slot = False
        release_space(engine)
    if engine._results is not None:
        engine._results.finished(task_id, TaskStatus.FAILED, attempts, None, error, entry)
    for hook in engine._hooked.after_failed:
        call_guarded(hook, task_id, error)
    on_failed = engine._on_failed
    if on_failed is not None:
        try:
            on_failed(task_id, error)
        except BaseException as callback_error:  # noqa: BLE001 - a callback never ends a worker
            callback_raised(engine.name, "on_failed", task_id, callback_error)
    if cancelled:
        log_cancelled(engine.name, task_id, error, log_level)
        count(engine, CANCELLED, counts)
    elif enabled_for(ERROR):  # nothing to describe for a logger that drops the record
        log_failed(engine.name, task_id, describe(call), error)
    if counts is not None:
        counts[FAILED] += 1  # inline: this runs once per failure
    else:
        count(engine, FAILED, None)
    if engine._joiners:
        engine._notify_joiners()


def cancel(
    engine: ThreadEngine, entry: Entry, counts: list[int] | None = None, log_level: int = logging.WARNING
) -> None:
    error = TaskCancelled(f"engine {engine.name!r} closed before it ran")
    report_failed(engine, entry, error, counts, log_level=log_level)


def cancel_all(engine: ThreadEngine, entries: list[Entry], why: str) -> None:
    """Report ``entries`` cancelled: each once (a DEBUG line each), and one WARNING for them all.

    They are counted together at the end (also when a report is cut short by an
    interrupt), not one lock each.
    """
    if not entries:
        return
    counts = [0, 0, 0, 0]
    try:
        for entry in entries:
            cancel(engine, entry, counts, logging.DEBUG)
    finally:
        with engine._lock:
            shared = engine._shared_counts
            for slot in range(4):
                shared[slot] += counts[slot]
        if engine._joiners:
            engine._notify_joiners()
        log_cancelled_many(engine.name, [entry[0] for entry in entries], why)


def cancel_queued(engine: ThreadEngine) -> None:
    """Report every entry still in the ready queue cancelled; the workers' stop signals stay.

    The queue is emptied first, then its entries are reported: the workers find nothing
    more to start the moment this begins, however long the reports take.
    """
    sentinels = 0
    ready = engine._ready
    taken: list[Entry] = []
    while True:
        try:
            entry = ready.get_nowait()
        except Empty:
            break
        if entry is None:
            sentinels += 1
            continue
        if entry is TOKEN:
            entry = pop_token(engine)
            if entry is None or entry is TOKEN:  # TOKEN: a cancelled entry's place in the heap
                continue
        taken.append(entry)
    for _ in range(sentinels):
        ready.put(None)
    cancel_all(engine, taken, "that had not started")


def count(engine: ThreadEngine, slot: int, counts: list[int] | None) -> None:
    """Count an outcome: in the worker's own list, else in the shared one under the lock."""
    if counts is not None:
        counts[slot] += 1
    else:
        with engine._lock:
            engine._shared_counts[slot] += 1


def abandon_running(engine: ThreadEngine, why: str) -> None:
    """Report every task still running cancelled (at exit), each exactly once."""
    engine._abandoning = True
    with engine._lock:
        claimed = [task_id for task_id in engine._slots if task_id and task_id not in engine._abandoned]
        engine._abandoned.update(claimed)
    entries: list[Entry] = [(task_id, nothing, None) for task_id in claimed]
    for task_id in list(engine._detached):
        entry = engine._detached.pop(task_id, None)
        if entry is not None:
            entries.append(entry)
    for entry in entries:
        report_failed(engine, entry, TaskCancelled(why), None, claimed=True)
    engine._loop.stop(timeout=1.0)


def claim(engine: ThreadEngine, task_id: int) -> bool:
    """True if the caller reports ``task_id``; False if exit claimed it (and reported it) already."""
    with engine._lock:
        if task_id in engine._abandoned:
            engine._abandoned.discard(task_id)
            return False
    return True


def _close_quietly(coro: Awaitable[object]) -> None:
    close = getattr(coro, "close", None)
    if close is not None:
        close()
