"""The worker threads: one ``worker_main`` each, running one of three loops.

Which loop a worker runs is decided once, as it starts, from the engine's configuration:

- ``loop_fast``: no hooks, no result store, no bound on the queue. The hot path: draw an
  entry, run it, count it, call ``on_done``; an error goes straight to the failed report,
  and a plain task's retry due now runs again here (only the count and the log line
  between attempts); anything else unusual (a coroutine, a delay, a retry's
  state) goes to ``outcomes``.
- ``loop_recording``: a result store (``results=N``) but no hooks and no bound. A plain
  first attempt is timed and recorded here (no call: see ``ResultStore``); the others take
  the general path (``attempt`` and ``outcomes``).
- ``loop_hooked``: hooks or a bound on the queue. First attempts with at most one
  ``around_task`` hook still go the short way; the rest through ``attempt``. With hooks,
  each entry runs with ``current_task()`` set (a tuple; the record is made when asked).

In every loop a retry due now runs again at once in the same worker (``run_again``), after
the ``try`` statement of the attempt before, never inside its ``except`` clause: one
attempt's exception does not chain to the next one's. The slot is cleared before every
outcome is settled (``outcomes.abandon_running`` relies on it).

They are three loops rather than one with branches because each branch left out of
the fast loop is time per task; the measured figures are in ``benchmarks/bench_engine.py``
and ``benchmarks/bench_seed.py`` (instructions per task: ``benchmarks/instructions.py``).
Each loop shares the head (draw, priority swap, stop signal) and the tail (``outcomes``).
"""

from __future__ import annotations

import functools
import time
from logging import WARNING
from types import CoroutineType
from typing import TYPE_CHECKING

from ..context import set_thread_engine
from ..exceptions import RetryTask
from ..hooks import _running, call_guarded, callback_raised, enabled_for, hook_raised, log_retry
from ..retry import next_attempt
from .backpressure import release_space
from .entry import TOKEN, Entry, TaskState, running_task
from .outcomes import cancel_queued, release_when_idle, report_done, report_failed, settle, settle_error, spawn
from .priority import prioritized
from .results import ResultStore

if TYPE_CHECKING:
    from .engine import ThreadEngine

__all__ = ["attempt", "run_again", "worker_main"]

_CoroutineType = CoroutineType


def worker_main(engine: ThreadEngine, index: int) -> None:
    set_thread_engine(engine)
    counts = [0, 0, 0, 0]  # this worker's own: it counts without a lock (see hooks.DONE...)
    with engine._lock:
        engine._worker_counts.append(counts)
    for hook in engine._hooked.worker_started:
        call_guarded(hook)
    try:
        if engine._hooks or engine.queue_size:
            loop_hooked(engine, index, counts)
        elif engine._results is not None:
            loop_recording(engine, index, counts, engine._results)
        else:
            loop_fast(engine, index, counts)
    finally:
        for hook in engine._hooked.worker_stopped:
            call_guarded(hook)
        with engine._lock:
            engine._live_workers -= 1
            last = engine._live_workers == 0
        if last:
            cancel_queued(engine)
            engine._workers_gone.set()
            release_when_idle(engine)


def loop_fast(engine: ThreadEngine, index: int, counts: list[int]) -> None:
    """The hot loop, for engines with no hooks, no results and no bound on the queue.

    A plain task's retries due now run here, attempts 2, 3, ... with nothing between two of
    them but the count and the log line (``tasq.retry.next_attempt`` words the failure after
    the last one); anything else (a delay, eager mode, an exit) goes the general way from
    that attempt on. No exception outlives its attempt in this frame: the worker keeps no
    task's traceback, and none makes a reference cycle for the garbage collector.
    """
    get, heap, slots = engine._ready.get, engine._heap, engine._slots
    on_done = engine._on_done
    while True:
        entry = get()
        if heap:
            entry = prioritized(engine, entry)
            if entry is TOKEN:
                continue
        if entry is None:
            return
        task_id, call, state = entry
        slots[index] = task_id
        try:
            value = call()
        except BaseException as error:  # noqa: BLE001 - a task's exception is its outcome
            slots[index] = 0
            if not isinstance(error, RetryTask):
                report_failed(engine, entry, error, counts)
                continue
            if state is None and not (error.delay or engine.retry_delay or engine._eager or engine._abandoning):
                asked: RetryTask | None = error  # retried below
            else:
                asked = None
                again = settle_error(engine, entry, error, counts, here=True)
        else:
            slots[index] = 0
            if value is not None or engine._abandoning:
                settle(engine, entry, value, counts)
                continue
            if on_done is not None:
                try:
                    on_done(task_id)
                except BaseException as error:  # noqa: BLE001 - a callback never ends a worker
                    callback_raised(engine.name, "on_done", task_id, error)
            counts[0] += 1  # DONE, as a literal: this line runs once per task
            if engine._joiners:
                engine._notify_joiners()
            continue
        # Out of the except clause: the next attempt's exception must not chain to this one.
        if asked is None:
            if again is not None:
                run_again(engine, index, again, counts)
            continue
        number, max_retry = 1, engine.max_retry  # the attempt that asked for the retry
        while True:
            if number >= max_retry:
                failure, _ = next_attempt(task_id, number, max_retry, asked, 0.0)
                asked = None
                if failure is not None:  # always, at the last attempt
                    # The entry of the first attempt: this loop has no result store to tell the number to.
                    report_failed(engine, entry, failure, counts)
                failure = None
                break
            counts[2] += 1  # RETRIED, as a literal: this line runs once per retry
            if enabled_for(WARNING):
                log_retry(engine.name, task_id, number, max_retry, 0.0, asked)
            number += 1
            slots[index] = task_id
            try:
                value = call()
            except BaseException as error:  # noqa: BLE001 - a task's exception is its outcome
                slots[index] = 0
                if isinstance(error, RetryTask) and not (
                    error.delay or engine.retry_delay or engine._eager or engine._abandoning
                ):
                    asked = error
                    continue  # leaves the except clause first: the next attempt is not chained to this one
                asked = None
                again = settle_error(engine, (task_id, call, at_attempt(number)), error, counts, here=True)
            else:
                slots[index] = 0
                asked = None
                settle(engine, (task_id, call, at_attempt(number)), value, counts)
                break
            if again is not None:
                run_again(engine, index, again, counts)  # out of the except clause
            break


def loop_recording(engine: ThreadEngine, index: int, counts: list[int], store: ResultStore) -> None:
    """The hot loop with a result store: first attempts of plain tasks record inline.

    The start time goes to this worker's own cell of ``_started`` (written before the
    slot, so ``result()`` that finds the id in the slot reads its start). A plain first
    attempt that succeeded is recorded here, with no call: its record written over its
    ``enqueued_at`` key, then counted in the store's order, the oldest beyond its size
    dropped (``ResultStore.keep``, inline).
    """
    get, heap, slots, started_at = engine._ready.get, engine._heap, engine._slots, engine._started
    on_done = engine._on_done
    records, order, size = store._records, store._order, store._size
    started_first = store.started_first
    now = time.time
    while True:
        entry = get()
        if heap:
            entry = prioritized(engine, entry)
            if entry is TOKEN:
                continue
        if entry is None:
            return
        task_id, call, state = entry
        if state is not None:
            run_again(engine, index, entry, counts)
            continue
        started_at[index] = started = now()
        slots[index] = task_id
        try:
            value = call()
        except BaseException as error:  # noqa: BLE001 - a task's exception is its outcome
            slots[index] = 0
            started_first(task_id, started)  # the general path settles it from the store
            again = settle_error(engine, entry, error, counts, here=True)
            if again is None:
                continue
        else:
            slots[index] = 0
            if (value is not None and type(value) is _CoroutineType) or engine._abandoning:
                started_first(task_id, started)
                settle(engine, entry, value, counts)
                continue
            finished = now()
            try:
                enqueued = records[task_id]
            except KeyError:  # every way in records it; a missing key must not end the worker
                enqueued = finished
            records[task_id] = (value, enqueued, started, finished)  # type: ignore[assignment]
            order.append(task_id)
            if len(order) > size:
                try:
                    del records[order.popleft()]
                except (IndexError, KeyError):  # another worker dropped the oldest first
                    pass
            if on_done is not None:
                try:
                    on_done(task_id)
                except BaseException as error:  # noqa: BLE001 - a callback never ends a worker
                    callback_raised(engine.name, "on_done", task_id, error)
            counts[0] += 1  # DONE, as a literal: this line runs once per task
            if engine._joiners:
                engine._notify_joiners()
            continue
        run_again(engine, index, again, counts)  # out of the except clause: see loop_fast


def loop_hooked(engine: ThreadEngine, index: int, counts: list[int]) -> None:
    """The loop with hooks or a bounded queue: first attempts still go the short way."""
    get, heap, slots = engine._ready.get, engine._heap, engine._slots
    before, around = engine._hooked.before_task, engine._hooked.around_task
    wrap = around[0] if len(around) == 1 else None
    short = len(around) < 2
    store = engine._results
    now = time.time
    # current_task() for the hooks and the task: set per entry only when there are hooks.
    running = running_task if engine._hooks else None
    set_running, reset_running = _running.set, _running.reset
    while True:
        entry = get()
        if heap:
            entry = prioritized(engine, entry)
            if entry is TOKEN:
                continue
        if entry is None:
            return
        task_id, call, state = entry
        slots[index] = task_id
        token = None if running is None else set_running((running, entry))
        try:
            if state is None and short:
                if store is not None:
                    store.started_first(task_id, now())
                for hook in before:
                    try:
                        hook(task_id, 1)
                    except BaseException as hook_error:  # noqa: BLE001 - a hook never fails a task
                        hook_raised(hook, task_id, hook_error)
                value = call() if wrap is None else wrap(task_id, call)
            else:
                value = attempt(engine, entry)
        except BaseException as error:  # noqa: BLE001 - a task's exception is its outcome
            slots[index] = 0
            again = settle_error(engine, entry, error, counts, here=True)
        else:
            slots[index] = 0
            if value is not None and type(value) is _CoroutineType:
                spawn(engine, entry, value)
            else:
                report_done(engine, entry, value, counts)
            continue
        finally:
            if token is not None:
                reset_running(token)
        if again is not None:
            run_again(engine, index, again, counts)  # out of the except clause: see loop_fast


def run_again(engine: ThreadEngine, index: int, entry: Entry, counts: list[int]) -> None:
    """Run ``entry`` in this worker, and each retry of it that is due now, at once (as the
    seed's in-place retry loop does: no trip through the queue). Each attempt starts outside
    the except clause of the one before, so one attempt's exception does not chain to the
    next one's; the slot is clear whenever an outcome is settled (``abandon_running``)."""
    slots = engine._slots
    running = running_task if engine._hooks else None  # current_task(), as loop_hooked sets it
    while True:
        slots[index] = entry[0]
        token = None if running is None else _running.set((running, entry))
        try:
            value = attempt(engine, entry)
        except BaseException as error:  # noqa: BLE001 - a task's exception is its outcome
            slots[index] = 0
            again = settle_error(engine, entry, error, counts, here=True)
        else:
            slots[index] = 0
            settle(engine, entry, value, counts)
            return
        finally:
            if token is not None:
                _running.reset(token)
        if again is None:
            return
        entry = again


def at_attempt(number: int) -> TaskState:
    """The state of a plain task that has come to attempt ``number``."""
    state = TaskState(None, 0)
    state.attempt = number
    return state


def attempt(engine: ThreadEngine, entry: Entry) -> object:
    """One attempt the general way: free its queue slot, record its start, run its hooks."""
    task_id, call, state = entry
    number = 1
    if state is not None:
        number = state.attempt
        if state.holds_slot:
            state.holds_slot = False
            release_space(engine)
    if engine._results is not None:
        engine._results.started(task_id, number)
    for hook in engine._hooked.before_task:
        call_guarded(hook, task_id, number)
    for wrap in reversed(engine._hooked.around_task):
        call = functools.partial(wrap, task_id, call)
    return call()
