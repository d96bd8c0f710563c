"""The thread engine: ``TasQ`` as a pool of worker threads in this process.

This class holds the engine's state and its public methods; each step a task goes through
is a module of its own: ``accept`` (in), ``priority`` and ``backpressure`` (waiting),
``workers`` (running), ``outcomes`` (reported once), ``eager``, ``accounting`` (join,
stats, result) and ``closing`` (close, shutdown, a forked child). ``enqueue`` keeps the
commonest case inline: it is the hot path.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import itertools
import logging
import threading
import time
import types
from collections.abc import Callable
from datetime import datetime, timedelta
from queue import SimpleQueue
from typing import TYPE_CHECKING, Any, ParamSpec

from .. import lifecycle
from ..engine import TasQ
from ..exceptions import TasQClosed
from ..hooks import HookLists
from ..options import EngineOptions
from ..task import BackgroundCall, TaskOptions
from . import accounting
from .accept import (
    GENERATOR_FLAGS,
    accept,
    accept_async,
    after_late_put,
    put_straight,
    reject_generator,
    resolve,
    task_types,
)
from .aio import LoopThread
from .closing import CLOSED, NEW, STARTED, Closing
from .control import Control
from .entry import Entry
from .interrupts import signals_held
from .priority import make_ready
from .results import ResultStore
from .scheduler import Scheduler
from .time_limit import Watchdog
from .wakeups import Waiters
from .workers import worker_main

__all__ = ["ThreadEngine"]

logger = logging.getLogger("tasq")

P = ParamSpec("P")

_FunctionType = types.FunctionType
_MethodType = types.MethodType
_time = time.time  # enqueue's clock read for the result store: one global, not a global and an attribute
_NONE_CHECKED: Any = object()  # no function has taken the put-only path yet
_NO_BROKER = "broker_url needs a distributed backend, e.g. TasQ(backend='dramatiq', broker_url=...)"


class ThreadEngine(accounting.Accounting, Control, Closing, TasQ):
    """``TasQ`` on a pool of worker threads: ``TasQ(...)`` with the default ``backend="thread"``."""

    # Every capability TasQ declares (with what each means) is this engine's.
    runs_tasks_in_process = True
    supports_any_callable = True
    supports_queue_size = True
    supports_cancel = True
    supports_retry = True
    supports_time_limit = True

    # Slots keep attribute reads on the hot path at their fastest.
    __slots__ = (
        "_abandoned",
        "_abandoning",
        "_async_space_waiters",
        "_detached",
        "_first_id",
        "_heap",
        "_hooked",
        "_ids",
        "_joined",
        "_joiners",
        "_last_checked",
        "_live_workers",
        "_lock",
        "_loop",
        "_put_only",
        "_put_recording",
        "_queued",
        "_ready",
        "_reentered",
        "_results",
        "_scheduler",
        "_shared_counts",
        "_slots",
        "_space",
        "_started",
        "_state",
        "_straight_in",
        "_threads",
        "_watchdog",
        "_worker_counts",
        "_workers_gone",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ids = itertools.count(1)
        self._state = NEW
        self._last_checked: Any = _NONE_CHECKED  # the function last checked to take the put-only path
        self._hooked = HookLists(self._hooks)
        self._reset_runtime(first_id=1)
        lifecycle.track(self)

    @classmethod
    def refused_options(cls, options: EngineOptions) -> list[tuple[str, Exception]]:
        refused: list[tuple[str, Exception]] = []
        if options.backend != "thread":
            refused.append(
                ("backend", ValueError(f"backend must be 'thread' for TasQ itself, not {options.backend!r}"))
            )
        if options.broker_url is not None:
            refused.append(("broker_url", ValueError(_NO_BROKER)))
        if options.store is not None:
            refused.append(("store", ValueError("a store is kept by TasQ(store=...), not by the thread engine itself")))
        return refused

    def _reset_runtime(self, first_id: int) -> None:
        """The state that belongs to one process: made anew in a forked child."""
        self._first_id = first_id
        # Re-entrant: a signal handler runs in the main thread between any two bytecodes, and
        # one that calls stats() or enqueue() while the main thread holds a lock must not
        # wait for itself.
        self._lock = threading.RLock()
        self._ready: SimpleQueue[Entry | None] = SimpleQueue()  # None: a worker's stop signal
        self._heap: list[tuple[int, int, Entry]] = []
        self._scheduler: Scheduler[Entry] = Scheduler(
            functools.partial(make_ready, self), f"tasq-{self.name}-scheduler"
        )
        self._loop = LoopThread(f"tasq-{self.name}-loop")
        self._watchdog = Watchdog(f"tasq-{self.name}-time-limit")  # its thread starts with a limited task
        self._threads: list[threading.Thread] = []
        self._slots: list[int] = []  # per worker: the id of the task it runs, or 0
        self._started: list[float] = []  # per worker: when its running first attempt started
        self._worker_counts: list[list[int]] = []
        self._shared_counts = [0, 0, 0, 0]
        # Tasks running outside a worker's slot: see outcomes.py.
        self._detached: dict[int, Entry] = {}
        self._live_workers = 0
        self._joined = Waiters()
        self._joiners = self._joined.waiting  # the same list: the workers' test of it is one read
        self._space = Waiters()
        self._queued = 0
        self._async_space_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._results = ResultStore(self.results) if self.results else None
        self._abandoning = False
        self._abandoned: set[int] = set()
        self._workers_gone = threading.Event()
        self._reentered: set[int] = set()  # threads inside close() or an after_enqueue hook
        self._refresh_paths()

    def _refresh_paths(self) -> None:
        # Straight in: an accepted task goes to the ready queue with nothing to wait for.
        # Put only: and nothing to record either, so enqueue is one tuple and one put.
        # Put recording: nothing but the result store's record (the store's ``enqueued``).
        straight_in = (
            not self._eager
            and not self._closed
            and not self.queue_size
            and self.time_limit is None
            and (self._state == STARTED or not self.autostart)
        )
        no_hooks = not self._hooked.after_enqueue and not self._hooked.before_enqueue
        self._put_only = straight_in and no_hooks and self._results is None
        recording = straight_in and no_hooks and self._results is not None
        # The store's dict itself: enqueue writes each task's enqueued_at in it with no call.
        self._put_recording = self._results._records if recording and self._results is not None else None
        self._straight_in = straight_in

    def _eager_changed(self) -> None:
        with self._lock:
            if not self._eager and self._state == STARTED and not self._threads:
                self._spawn_workers()
            self._refresh_paths()

    def _hooks_changed(self) -> None:
        self._hooked = HookLists(self._hooks)
        self._refresh_paths()

    @property
    def started(self) -> bool:
        return self._state == STARTED

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        if self._state == STARTED:
            return
        with signals_held():  # the workers and the state that says so, or neither
            with self._lock:
                if self._state == CLOSED:
                    raise TasQClosed(f"engine {self.name!r} is closed")
                if self._state == STARTED:
                    return
                self._state = STARTED
                if not self._eager:  # an eager engine runs everything in its callers' threads
                    self._spawn_workers()
                self._refresh_paths()
            self._scheduler.enable()
        logger.debug("engine %r started", self.name, extra={"task_id": None, "engine": self.name})
        lifecycle.engine_started(self)

    def _spawn_workers(self) -> None:
        self._workers_gone.clear()
        self._slots = [0] * self.workers
        self._started = [0.0] * self.workers
        self._threads = [
            threading.Thread(
                target=worker_main, args=(self, index), name=f"tasq-{self.name}-worker-{index + 1}", daemon=True
            )
            for index in range(self.workers)
        ]
        self._live_workers = self.workers
        for thread in self._threads:
            thread.start()

    # -- enqueueing -------------------------------------------------------------------

    if TYPE_CHECKING:

        def enqueue(
            self,
            task: object,
            *,
            delay: float | timedelta | datetime | None = None,
            priority: int | None = None,
            timeout: float | None = None,
        ) -> int: ...

    else:
        # At run time the options arrive as **options: CPython fills keyword-only defaults
        # off its fastest call path, which was a tenth of a plain enqueue. The signature
        # that inspect and help() show is the contract's (see __signature__ below).
        def enqueue(self, task, **options):
            """Accept a task (an object with ``do()``, or a zero-argument callable); return its id."""
            if not options:
                if task is self._last_checked:
                    call = task
                elif (
                    (func := task_types.get(type(task))) is not None
                    and type(do := task.do) is _MethodType
                    and do.__func__ is func
                ):
                    # An object of a Task type checked once (accept.task_types): its do() is
                    # the call, unless this object has a do() of its own.
                    call = do
                else:
                    return self._enqueue_checked(task)
                if self._put_only:
                    # accept.put_straight, inline: take an id, put, check for a race with close().
                    # The loop draws the id where no signal handler can run (interrupts.py).
                    for task_id in self._ids:  # noqa: B007
                        break
                    self._ready.put((task_id, call, None))
                    if self._closed:
                        self._after_late_put()
                    return task_id
                if (records := self._put_recording) is not None:
                    for task_id in self._ids:  # noqa: B007 - the same, the result store's record first
                        break
                    try:
                        records[task_id] = _time()  # ResultStore.enqueued, inline
                    finally:
                        self._ready.put((task_id, call, None))
                    if self._closed:
                        self._after_late_put()
                    return task_id
                if self._straight_in:
                    return put_straight(self, call)
            return self._enqueue_checked(task, **options)

    def _enqueue_checked(
        self,
        task: object,
        *,
        delay: float | timedelta | datetime | None = None,
        priority: int | None = None,
        timeout: float | None = None,
    ) -> int:
        if task is self._last_checked or (type(task) is _FunctionType and not task.__code__.co_flags & GENERATOR_FLAGS):
            if delay is None and priority is None and timeout is None and self._straight_in:
                self._last_checked = task  # checked once, not again for the same function
                return put_straight(self, task)
            call: Callable[[], object] = task
            options = None
        elif type(task) is BackgroundCall and task.tasq_options.plain:
            # @background refused generator functions when it decorated them.
            call, options = task.do, None
            if self._straight_in and delay is None and priority is None and timeout is None:
                return put_straight(self, call)
        else:
            call, options = resolve(task)
        return accept(self, call, options, delay, priority, timeout)

    def _after_late_put(self) -> None:
        after_late_put(self)

    def _enqueue_call(
        self, fn: Callable[..., object], args: tuple[Any, ...], kwargs: dict[str, Any], options: TaskOptions
    ) -> int:
        if options.plain and self._straight_in and (options.name is None or not self._hooked.before_enqueue):
            # One C-made partial instead of a BackgroundCall and its bound do(): fewer objects
            # for the garbage collector to chase per pending task.
            return put_straight(self, functools.partial(fn, *args, **kwargs))
        return self.enqueue(BackgroundCall(fn, args, kwargs, options))

    def submit(self, fn: Callable[P, object], /, *args: P.args, **kwargs: P.kwargs) -> int:
        """``enqueue`` for a function and its arguments."""
        if type(fn) is _FunctionType and not fn.__code__.co_flags & GENERATOR_FLAGS:
            if self._straight_in:
                return put_straight(self, functools.partial(fn, *args, **kwargs))
        elif not callable(fn):
            raise TypeError(f"submit() needs a callable, not {type(fn).__name__}")
        else:
            reject_generator(fn)
        return accept(self, functools.partial(fn, *args, **kwargs), None, None, None, None)

    async def aenqueue(
        self,
        task: object,
        *,
        delay: float | timedelta | datetime | None = None,
        priority: int | None = None,
        timeout: float | None = None,
    ) -> int:
        """``enqueue`` for coroutines: waiting for room in a full queue never blocks the loop."""
        if not self.queue_size or self.on_full == "raise" or self._eager:
            return self.enqueue(task, delay=delay, priority=priority, timeout=timeout)
        return await accept_async(self, task, delay, priority, timeout)

    def __repr__(self) -> str:
        state = ("new", "started", "closed")[self._state]
        return f"<TasQ {self.name!r} {state} workers={self.workers}>"


# What inspect.signature(), help() and IDEs show for the **options form of enqueue, and the
# name a misspelt option's TypeError gives.
ThreadEngine.enqueue.__signature__ = inspect.signature(TasQ.enqueue)  # type: ignore[attr-defined]
ThreadEngine._enqueue_checked.__qualname__ = "TasQ.enqueue"
