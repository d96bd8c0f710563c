"""Accepting a task: check it, give it an id, queue it (or schedule it), and say so.

Every accepted task takes its id from ``engine._ids``, is put where a worker finds it (the
ready queue, the priority heap, the scheduler) and then checks for a put that raced
``close()``: the entry may sit behind the workers' stop signals, and once every worker is
gone nobody else will look at the queue again (``after_late_put``). ``put_straight`` is
that sequence for a task with nothing to plan; ``ThreadEngine.enqueue`` repeats it inline
for the commonest cases (a plain function, or an object of a ``Task`` type already checked,
no options), where one call more is measurable.

``task_types`` holds the ``Task`` types checked once: those whose ``do`` is a plain function
defined on the class and which carry no ``tasq_options``. ``enqueue`` takes an object of such
a type the short way when its ``do`` is still that function (an instance's own ``do`` is
checked in full). Bounded: types made at run time would otherwise be kept alive here.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
import types
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..checks import check_schedule, check_seconds
from ..exceptions import TasQClosed
from ..hooks import call_guarded, checked_headers, describe, hook_raised
from ..task import TaskOptions
from .backpressure import release_space, take_space, wait_for_room, wait_for_room_async
from .closing import NEW
from .eager import run_eagerly
from .entry import Call, Entry, TaskState, task_name
from .interrupts import signals_held
from .outcomes import cancel, cancel_queued
from .priority import make_ready
from .time_limit import limited

if TYPE_CHECKING:
    from .engine import ThreadEngine

__all__ = [
    "GENERATOR_FLAGS",
    "accept",
    "accept_async",
    "after_enqueue",
    "before_enqueue",
    "limit",
    "put_straight",
    "reject_generator",
    "resolve",
    "task_types",
]

GENERATOR_FLAGS = inspect.CO_GENERATOR | inspect.CO_ASYNC_GENERATOR
_MethodType = types.MethodType
_FunctionType = types.FunctionType

task_types: dict[type, Callable[..., object]] = {}  # a checked Task type -> its do function
TASK_TYPES_KEPT = 256


def put_straight(engine: ThreadEngine, call: Call) -> int:
    """Accept a task with nothing to plan: record it, tell the hooks, put it in the queue.

    Whatever lands after the id is drawn leaves the entry queued (see interrupts.py)."""
    for task_id in engine._ids:  # noqa: B007 - drawn where no signal handler runs
        break
    state = None
    try:
        if engine._results is not None:
            engine._results.enqueued(task_id)
        if engine._hooked.before_enqueue:
            state = before_enqueue(engine, task_id, call, None)
        if engine._hooked.after_enqueue:
            after_enqueue(engine, task_id)
    finally:
        engine._ready.put((task_id, call, state))
    if engine._closed:
        after_late_put(engine)
    return task_id


def accept(
    engine: ThreadEngine,
    call: Call,
    options: TaskOptions | None,
    delay: float | timedelta | datetime | None,
    priority: int | None,
    timeout: float | None,
) -> int:
    """The general way in: check the schedule, run it eagerly, or wait for room and queue it."""
    if engine._closed:
        raise TasQClosed(f"engine {engine.name!r} is closed")
    seconds, chosen = check_schedule(delay, priority, options)
    if timeout is not None:
        timeout = check_seconds("timeout", timeout)
    call = limit(engine, call, options)
    if engine._eager:
        return run_eagerly(engine, call, options, chosen)
    if not engine.queue_size:
        with signals_held():
            return start_and_accept(engine, call, options, seconds, chosen, holds_slot=False)
    deadline = None if timeout is None else time.monotonic() + timeout
    while (task_id := accept_if_room(engine, call, options, seconds, chosen)) is None:
        wait_for_room(engine, deadline, timeout)
    return task_id


async def accept_async(
    engine: ThreadEngine,
    task: object,
    delay: float | timedelta | datetime | None,
    priority: int | None,
    timeout: float | None,
) -> int:
    """``accept`` under a bound, for a coroutine: it waits for room on its event loop."""
    if engine._closed:
        raise TasQClosed(f"engine {engine.name!r} is closed")
    call, options = resolve(task)
    seconds, chosen = check_schedule(delay, priority, options)
    call = limit(engine, call, options)
    if timeout is not None:
        timeout = check_seconds("timeout", timeout)
    deadline = None if timeout is None else time.monotonic() + timeout
    while (task_id := accept_if_room(engine, call, options, seconds, chosen)) is None:
        await wait_for_room_async(engine, deadline, timeout)
    return task_id


def accept_if_room(
    engine: ThreadEngine, call: Call, options: TaskOptions | None, seconds: float, priority: int
) -> int | None:
    """Under a bound: take a slot and accept the task in one hold, or neither (None: no room)."""
    with signals_held():
        if take_space(engine):
            return start_and_accept(engine, call, options, seconds, priority, holds_slot=True)
    return None


def start_and_accept(
    engine: ThreadEngine, call: Call, options: TaskOptions | None, seconds: float, priority: int, holds_slot: bool
) -> int:
    if engine.autostart and engine._state == NEW:
        try:
            engine.start()
        except TasQClosed:
            if holds_slot:
                release_space(engine)
            raise
    task_id = next(engine._ids)  # under signals_held(): nothing lands before the entry is handed on
    state = None if options is None and not priority and not holds_slot else TaskState(options, priority, holds_slot)
    if engine._hooked.before_enqueue:
        state = before_enqueue(engine, task_id, call, state)
    entry: Entry = (task_id, call, state)
    if engine._results is not None:
        engine._results.enqueued(task_id)
    if engine._hooked.after_enqueue:
        after_enqueue(engine, task_id)
    if seconds > 0:
        if not engine._scheduler.schedule(time.monotonic() + seconds, entry):
            cancel(engine, entry)
    else:
        make_ready(engine, entry)
    if engine._closed:
        after_late_put(engine)
    return task_id


def limit(engine: ThreadEngine, call: Call, options: TaskOptions | None) -> Call:
    """``call`` under its time limit, the task's own or the engine's (see time_limit.py)."""
    seconds = engine.time_limit if options is None or options.time_limit is None else options.time_limit
    return call if seconds is None else limited(call, seconds, engine._watchdog)


def before_enqueue(engine: ThreadEngine, task_id: int, call: Call, state: TaskState | None) -> TaskState | None:
    """The before_enqueue hooks, given the task's name; the headers they add go in its state."""
    headers: dict[str, str] = {}
    name = task_name(call)
    for hook in engine._hooked.before_enqueue:
        try:
            hook(task_id, name, headers)
        except BaseException as error:  # noqa: BLE001 - a hook never fails an enqueue
            hook_raised(hook, task_id, error)
    if headers:
        if state is None:
            state = TaskState(None, 0)
        state.headers = checked_headers(task_id, headers)
    return state


def after_enqueue(engine: ThreadEngine, task_id: int) -> None:
    # The task is counted and not yet queued: a close() from a hook must not wait for it.
    me = threading.get_ident()
    added = me not in engine._reentered
    try:
        engine._reentered.add(me)
        for hook in engine._hooked.after_enqueue:
            call_guarded(hook, task_id)  # a hook never fails an enqueue
    finally:
        if added:
            engine._reentered.discard(me)


def after_late_put(engine: ThreadEngine) -> None:
    # enqueue() raced close(): the entry may sit behind the workers' stop signals.
    # Once every worker is gone, nobody else will look at the queue again.
    if engine._live_workers == 0:
        with signals_held():
            cancel_queued(engine)


def resolve(task: object) -> tuple[Call, TaskOptions | None]:
    """The zero-argument call that runs ``task``, and its per-task options."""
    if task is None:
        raise TypeError("cannot enqueue None: pass a callable or an object with a do() method")
    options = getattr(task, "tasq_options", None)
    if not isinstance(options, TaskOptions):
        options = None
    do = getattr(task, "do", None)
    if do is not None and callable(do):
        reject_generator(do)
        if options is None:
            remember_task_type(task, do)
        return do, options
    if inspect.iscoroutine(task):
        raise TypeError("enqueue takes the coroutine function, not a coroutine object: drop the ()")
    if not callable(task):
        raise TypeError(
            f"cannot enqueue {type(task).__name__}: pass a zero-argument callable or an object with a do() method"
        )
    reject_generator(task)
    return task, options


def remember_task_type(task: object, do: object) -> None:
    """Note ``type(task)`` in ``task_types`` if its objects can be taken without a check."""
    kind = type(task)
    if type(do) is not _MethodType or hasattr(kind, "tasq_options") or len(task_types) >= TASK_TYPES_KEPT:
        return
    func = do.__func__
    if type(func) is _FunctionType and getattr(kind, "do", None) is func:
        task_types[kind] = func


def reject_generator(fn: object) -> None:
    target = fn
    while isinstance(target, functools.partial):
        target = target.func
    target = getattr(target, "__func__", target)  # a bound method's function
    code = getattr(target, "__code__", None)
    if code is None and callable(target) and not inspect.isroutine(target):
        method = type(target).__call__  # a callable object: its __call__ decides
        code = getattr(getattr(method, "__func__", method), "__code__", None)
    if code is not None and code.co_flags & GENERATOR_FLAGS:
        raise TypeError(f"{describe(fn)} is a generator function: a task must return, not yield")
