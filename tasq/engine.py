from __future__ import annotations

import asyncio
import contextvars
import functools
import heapq
import inspect
import itertools
import logging
import threading
import time
import types
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from queue import Empty, SimpleQueue
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar, overload

from . import lifecycle
from .aio import LoopThread
from .checks import (
    NO_PRIORITY,
    check_bool,
    check_callback,
    check_int,
    check_retry_delay,
    check_schedule,
    check_seconds,
    seconds,
)
from .context import set_thread_engine
from .exceptions import MaxRetryExceeded, QueueFull, RetryTask, TaskCancelled, TasQClosed
from .hooks import HOOK_NAMES, Hooks, RunningTask, _running, checked_headers, overridden
from .results import ResultStore
from .scheduler import Scheduler
from .task import BackgroundCall, RetryDelay, Stats, TaskOptions, TaskResult, TaskStatus

if TYPE_CHECKING:
    from .decorators import Background, BackgroundFunction

__all__ = ["TasQ"]

logger = logging.getLogger("tasq")

P = ParamSpec("P")
R = TypeVar("R")

Call = Callable[[], object]
OnDone = Callable[[int], object]
OnFailed = Callable[[int, BaseException], object]

# Each worker thread owns one list of counts and is its only writer, so the hot path counts
# without a lock; other threads (eager callers, the loop, close) share one under _lock.
_DONE, _FAILED, _RETRIED, _CANCELLED = range(4)

_NEW, _STARTED, _CLOSED = range(3)

_GENERATOR_FLAGS = inspect.CO_GENERATOR | inspect.CO_ASYNC_GENERATOR
_FunctionType = types.FunctionType
_CoroutineType = types.CoroutineType
_TOKEN: Any = object()  # tells a worker that a prioritized entry waits in the heap
_UNSET: Any = object()
_NO_HEADERS: types.MappingProxyType[str, str] = types.MappingProxyType({})
_eager_failure = threading.local()  # how the last eager task of this thread failed, if it did


class _Meta:
    """What an entry carries beyond (id, call) once it is not a plain first attempt."""

    __slots__ = ("attempt", "headers", "holds_slot", "options", "priority")

    def __init__(self, options: TaskOptions | None, priority: int, holds_slot: bool = False) -> None:
        self.attempt = 1
        self.priority = priority
        self.options = options
        self.holds_slot = holds_slot
        self.headers: dict[str, str] | None = None  # what before_enqueue hooks added


Entry = tuple[int, Call, "_Meta | None"]


class TasQ:
    """A pool of worker threads that runs tasks in the background and reports each outcome.

    Every id ``enqueue`` returns reaches exactly one of ``on_done`` / ``on_failed``, once.
    """

    # Slots keep attribute reads on the hot path at their fastest.
    __slots__ = (
        "__weakref__",
        "_abandoned",
        "_abandoning",
        "_async_space_waiters",
        "_closed",
        "_detached",
        "_direct",
        "_eager",
        "_first_id",
        "_heap",
        "_hooked",
        "_hooks",
        "_ids",
        "_joined",
        "_joiners",
        "_last_plain",
        "_live_workers",
        "_lock",
        "_loop",
        "_on_done",
        "_on_failed",
        "_plain",
        "_queued",
        "_ready",
        "_results",
        "_scheduler",
        "_shared_counts",
        "_slots",
        "_space",
        "_started",
        "_state",
        "_threads",
        "_worker_counts",
        "_workers_gone",
        "autostart",
        "eager_propagate",
        "max_retry",
        "name",
        "on_full",
        "queue_size",
        "results",
        "retry_delay",
        "shutdown_timeout",
        "workers",
    )

    def __new__(cls, *args: Any, backend: str = "thread", **kwargs: Any) -> TasQ:
        # TasQ(backend="dramatiq", ...) is the same API on another engine: the backend's
        # engine class (a subclass of TasQ) is made here and initialised by Python.
        if backend == "thread" or cls is not TasQ:
            return super().__new__(cls)
        from .backends import engine_class

        return super().__new__(engine_class(backend))

    def __init__(
        self,
        workers: int = 10,
        max_retry: int = 3,
        retry_delay: RetryDelay = 0.0,
        queue_size: int = 0,
        on_full: Literal["block", "raise"] = "block",
        on_done: OnDone | None = None,
        on_failed: OnFailed | None = None,
        results: int = 0,
        name: str = "default",
        *,
        eager: bool = False,
        autostart: bool = False,
        shutdown_timeout: float | None = 25.0,
        backend: str = "thread",
        broker_url: str | None = None,
    ) -> None:
        if backend != "thread" and type(self) is TasQ:
            raise ValueError(f"backend must be 'thread' for TasQ itself, not {backend!r}")
        if broker_url is not None and type(self) is TasQ:
            raise ValueError("broker_url needs a distributed backend, e.g. TasQ(backend='dramatiq', broker_url=...)")
        self.workers = check_int("workers", workers, minimum=1)
        self.max_retry = check_int("max_retry", max_retry, minimum=1)
        self.retry_delay = check_retry_delay(retry_delay)
        self.queue_size = check_int("queue_size", queue_size, minimum=0)
        if on_full not in ("block", "raise"):
            raise ValueError(f'on_full must be "block" or "raise", not {on_full!r}')
        self.on_full = on_full
        self._on_done = check_callback("on_done", on_done)
        self._on_failed = check_callback("on_failed", on_failed)
        self.results = check_int("results", results, minimum=0)
        if not isinstance(name, str) or not name:
            raise TypeError(f"name must be a non-empty str, not {name!r}")
        self.name = name
        forced, propagate = lifecycle.eager_forced()
        self._eager = check_bool("eager", eager) or forced
        self.eager_propagate = propagate
        self.autostart = check_bool("autostart", autostart)
        self.shutdown_timeout = (
            None if shutdown_timeout is None else check_seconds("shutdown_timeout", shutdown_timeout)
        )
        self._ids = itertools.count(1)
        self._state = _NEW
        self._closed = False
        self._last_plain: Any = _UNSET
        self._hooks: list[Hooks] = []
        self._hooked = _HookLists(self._hooks)
        self._reset_runtime(first_id=1)
        lifecycle.track(self)

    def _reset_runtime(self, first_id: int) -> None:
        """The state that belongs to one process: made anew in a forked child."""
        self._first_id = first_id
        self._lock = threading.Lock()
        self._ready: SimpleQueue[Entry | None] = SimpleQueue()  # None: a worker's stop signal
        self._heap: list[tuple[int, int, Entry]] = []
        self._scheduler: Scheduler[Entry] = Scheduler(self._make_ready, f"tasq-{self.name}-scheduler")
        self._loop = LoopThread(f"tasq-{self.name}-loop")
        self._threads: list[threading.Thread] = []
        self._slots: list[int] = []
        self._started: list[float] = []  # per worker: when its running first attempt started
        self._worker_counts: list[list[int]] = []
        self._shared_counts = [0, 0, 0, 0]
        # Tasks running outside a worker's slot (on the loop, or a retry run inline at close):
        # whoever pops an id from here reports it, which makes the report happen once.
        self._detached: dict[int, Entry] = {}
        self._live_workers = 0
        self._joiners = 0
        self._joined = threading.Condition(threading.Lock())
        self._space = threading.Condition(self._lock)
        self._queued = 0
        self._async_space_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._results = ResultStore(self.results) if self.results else None
        self._abandoning = False
        self._abandoned: set[int] = set()
        self._workers_gone = threading.Event()
        self._refresh_paths()

    def _refresh_paths(self) -> None:
        # The plain path is one tuple and one put (and a timestamp with a result store):
        # anything else goes the general way.
        direct = (
            not self._eager
            and not self._closed
            and not self.queue_size
            and (self._state == _STARTED or not self.autostart)
        )
        self._plain = (
            direct and self._results is None and not self._hooked.after_enqueue and not self._hooked.before_enqueue
        )
        self._direct = direct

    # -- configuration ----------------------------------------------------------------

    @property
    def on_done(self) -> OnDone | None:
        callback: OnDone | None = self._on_done
        return callback

    @on_done.setter
    def on_done(self, callback: OnDone | None) -> None:
        self._before_start("on_done")
        self._on_done = check_callback("on_done", callback)

    @property
    def on_failed(self) -> OnFailed | None:
        callback: OnFailed | None = self._on_failed
        return callback

    @on_failed.setter
    def on_failed(self, callback: OnFailed | None) -> None:
        self._before_start("on_failed")
        self._on_failed = check_callback("on_failed", callback)

    @property
    def eager(self) -> bool:
        """Run each task in the caller's thread, inside ``enqueue`` (for tests)."""
        return self._eager

    @eager.setter
    def eager(self, value: bool) -> None:
        self._eager = check_bool("eager", value)
        with self._lock:
            if not value and self._state == _STARTED and not self._threads:
                self._spawn_workers()
            self._refresh_paths()

    def _before_start(self, what: str) -> None:
        if self._state != _NEW:
            raise RuntimeError(f"{what} can only be set before the engine starts")

    def add_hooks(self, hooks: Hooks) -> None:
        """Add lifecycle hooks (integrations use this); only before the engine starts."""
        if not isinstance(hooks, Hooks):
            raise TypeError(f"hooks must be a tasq.Hooks instance, not {type(hooks).__name__}")
        self._before_start("hooks")
        self._hooks.append(hooks)
        self._hooked = _HookLists(self._hooks)
        self._refresh_paths()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def started(self) -> bool:
        return self._state == _STARTED

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        """Start the workers; again does nothing. Tasks enqueued before now run now."""
        if self._state == _STARTED:
            return
        with self._lock:
            if self._state == _CLOSED:
                raise TasQClosed(f"engine {self.name!r} is closed")
            if self._state == _STARTED:
                return
            self._state = _STARTED
            if not self._eager:  # an eager engine runs everything in its callers' threads
                self._spawn_workers()
            self._refresh_paths()
        self._scheduler.enable()
        logger.debug("engine %r started", self.name)

    def _spawn_workers(self) -> None:
        self._workers_gone.clear()
        self._slots = [0] * self.workers
        self._started = [0.0] * self.workers
        self._threads = [
            threading.Thread(
                target=self._worker_main,
                args=(index,),
                name=f"tasq-{self.name}-worker-{index + 1}",
                daemon=True,
            )
            for index in range(self.workers)
        ]
        self._live_workers = self.workers
        for thread in self._threads:
            thread.start()

    def __enter__(self) -> TasQ:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self, wait: bool = True, timeout: float | None = None, cancel_pending: bool = False) -> list[int]:
        """Stop accepting tasks; run what is pending (or cancel it); wait for running tasks.

        Tasks not due yet (delays, retries) are cancelled. With ``timeout``, tasks that have
        not started by then are cancelled too. Returns the ids still running on return.
        """
        if timeout is not None:
            timeout = check_seconds("timeout", timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._space:
            first_close = not self._closed
            self._closed = True
            self._plain = self._direct = False
            was_started = self._state == _STARTED
            self._state = _CLOSED
            self._space.notify_all()
        if first_close:
            self._wake_async_space_waiters()
            for entry in self._scheduler.stop():
                self._cancel(entry)
            if cancel_pending or not was_started:
                self._cancel_queued()
            for _ in self._threads:
                self._ready.put(None)
        elif cancel_pending:
            self._cancel_queued()
        if threading.current_thread() in self._threads:
            wait = False  # a task that closes its own engine cannot wait for itself
        if not wait:
            return self.running_ids()
        if self._threads and not self._workers_gone.wait(_remaining(deadline)):
            self._cancel_queued()
        self.join(_remaining(deadline))
        still_running = self.running_ids()
        if still_running:
            shown = ", ".join(map(str, still_running[:20])) + (", ..." if len(still_running) > 20 else "")
            logger.warning(
                "engine %r closed with %d task(s) still running: %s",
                self.name,
                len(still_running),
                shown,
                extra={"task_ids": still_running},
            )
        elif self._outstanding() <= 0:
            self._loop.stop()
            lifecycle.forget(self)
        return still_running

    def shutdown(self, reason: str = "the app shut down", *, timeout: float | None = None) -> None:
        """Close for good: drain within ``timeout`` (default: ``shutdown_timeout``), then report
        each task still running as cancelled, saying ``reason``. Again does nothing.

        For an app's shutdown: afterwards every id the engine accepted has been reported. A
        task cut short goes on in its thread, but its outcome is no longer reported.
        """
        if self._abandoning:
            return
        try:
            self.close(timeout=self.shutdown_timeout if timeout is None else timeout)
        finally:
            # Also when close() was cut short (a second Ctrl-C raises in the middle of it):
            # what has not started is reported cancelled, then what still runs.
            self._closed = True
            for entry in self._scheduler.stop():
                self._cancel(entry)
            self._cancel_queued()
            self._abandon_running(f"{reason} while it ran")
            lifecycle.forget(self)

    def close_at_exit(self) -> None:
        """Interpreter exit: ``shutdown()`` within ``shutdown_timeout``."""
        self.shutdown("the interpreter exited")

    def _abandon_running(self, why: str) -> None:
        # Workers clear their slot before they look at _abandoning, and this sets it before
        # it reads the slots: each running id is reported by exactly one side (see _claim).
        self._abandoning = True
        with self._lock:
            claimed = [tid for tid in self._slots if tid and tid not in self._abandoned]
            self._abandoned.update(claimed)
        entries: list[Entry] = [(tid, _nothing, None) for tid in claimed]
        for tid in list(self._detached):
            entry = self._detached.pop(tid, None)
            if entry is not None:
                entries.append(entry)
        for entry in entries:
            self._report_failed(entry, TaskCancelled(f"task {entry[0]}: {why}"), None, claimed=True)
        self._loop.stop(timeout=1.0)

    def _claim(self, tid: int) -> bool:
        with self._lock:
            if tid in self._abandoned:
                self._abandoned.discard(tid)
                return False
        return True

    def after_fork_in_child(self) -> None:
        """A forked child starts empty: what was pending belongs to the parent."""
        was_started = self._state == _STARTED
        next_id = next(self._ids)
        self._ids = itertools.count(next_id)
        if was_started and not self._closed:
            # Threads do not survive fork(): the child's workers start with its first task.
            self._state = _NEW
            self.autostart = True
        self._reset_runtime(first_id=next_id)

    # -- enqueueing -------------------------------------------------------------------

    if TYPE_CHECKING:

        def enqueue(
            self,
            task: object,
            *,
            delay: float | timedelta | datetime | None = None,
            priority: int = 0,
            timeout: float | None = None,
        ) -> int:
            """Accept a task (an object with ``do()``, or a zero-argument callable); return its id."""

    else:
        # At run time the options arrive as **options: CPython fills keyword-only defaults
        # off its fastest call path, which was a tenth of a plain enqueue. The signature
        # that inspect and help() show is the one above (see __signature__ below the class).
        def enqueue(self, task, **options):
            """Accept a task (an object with ``do()``, or a zero-argument callable); return its id."""
            if task is self._last_plain and not options:
                if self._plain:
                    tid = next(self._ids)
                    self._ready.put((tid, task, None))
                    if self._closed:
                        self._after_late_put()
                    return tid
                if self._direct:
                    return self._put_direct(task)
            return self._enqueue_checked(task, **options)

    def _enqueue_checked(
        self,
        task: object,
        *,
        delay: float | timedelta | datetime | None = None,
        priority: int = 0,
        timeout: float | None = None,
    ) -> int:
        if task is self._last_plain or (type(task) is _FunctionType and not task.__code__.co_flags & _GENERATOR_FLAGS):
            if delay is None and priority is NO_PRIORITY and timeout is None:
                if self._plain:
                    self._last_plain = task  # checked once, not again for the same function
                    tid = next(self._ids)
                    self._ready.put((tid, task, None))
                    if self._closed:
                        self._after_late_put()
                    return tid
                if self._direct:
                    self._last_plain = task
                    return self._put_direct(task)
            call: Call = task
            options = None
        elif type(task) is BackgroundCall and task.tasq_options.plain:
            # @background refused generator functions when it decorated them.
            call, options = task.do, None
            if self._direct and delay is None and priority is NO_PRIORITY and timeout is None:
                return self._put_direct(call)
        else:
            call, options = _resolve(task)
        return self._enqueue(call, options, delay, priority, timeout)

    def enqueue_call(
        self, fn: Callable[..., object], args: tuple[Any, ...], kwargs: dict[str, Any], options: TaskOptions
    ) -> int:
        """``enqueue`` of ``fn(*args, **kwargs)`` with its ``@background`` options."""
        if options.plain and self._direct and (options.name is None or not self._hooked.before_enqueue):
            # One C-made partial instead of a BackgroundCall and its bound do(): fewer objects
            # for the garbage collector to chase per pending task.
            return self._put_direct(functools.partial(fn, *args, **kwargs))
        return self.enqueue(BackgroundCall(fn, args, kwargs, options))

    def _put_direct(self, call: Call) -> int:
        """The one-put path with a result store or enqueue hooks: nothing else in the way."""
        tid = next(self._ids)
        if self._results is not None:
            self._results.records[tid] = time.time()
        meta = self._before_enqueue(tid, call, None) if self._hooked.before_enqueue else None
        if self._hooked.after_enqueue:
            self._after_enqueue(tid)
        self._ready.put((tid, call, meta))
        if self._closed:
            self._after_late_put()
        return tid

    def submit(self, fn: Callable[P, object], /, *args: P.args, **kwargs: P.kwargs) -> int:
        """``enqueue`` for a function and its arguments."""
        if type(fn) is _FunctionType and not fn.__code__.co_flags & _GENERATOR_FLAGS:
            if self._direct:
                return self._put_direct(functools.partial(fn, *args, **kwargs))
        elif not callable(fn):
            raise TypeError(f"submit() needs a callable, not {type(fn).__name__}")
        else:
            _reject_generator(fn)
        return self._enqueue(functools.partial(fn, *args, **kwargs), None, None, 0, None)

    async def aenqueue(
        self,
        task: object,
        *,
        delay: float | timedelta | datetime | None = None,
        priority: int = 0,
        timeout: float | None = None,
    ) -> int:
        """``enqueue`` for coroutines: waiting for room in a full queue never blocks the loop."""
        if not self.queue_size or self.on_full == "raise" or self._eager:
            return self.enqueue(task, delay=delay, priority=priority, timeout=timeout)
        if self._closed:
            raise TasQClosed(f"engine {self.name!r} is closed")
        call, options = _resolve(task)
        seconds, priority = check_schedule(delay, priority, options)
        deadline = None if timeout is None else time.monotonic() + check_seconds("timeout", timeout)
        loop = asyncio.get_running_loop()
        while True:
            waiter: asyncio.Future[None] = loop.create_future()
            with self._lock:
                self._async_space_waiters.append((loop, waiter))
            if self._take_space(block=False):
                break
            try:
                await asyncio.wait_for(waiter, _remaining(deadline))
            except TimeoutError:
                raise QueueFull(f"engine {self.name!r}: no free slot in {timeout}s") from None
        return self._start_and_accept(call, options, seconds, priority, holds_slot=True)

    def _enqueue(
        self,
        call: Call,
        options: TaskOptions | None,
        delay: float | timedelta | datetime | None,
        priority: int,
        timeout: float | None,
    ) -> int:
        if self._closed:
            raise TasQClosed(f"engine {self.name!r} is closed")
        seconds, priority = check_schedule(delay, priority, options)
        if timeout is not None:
            timeout = check_seconds("timeout", timeout)
        if self._eager:
            return self._run_eagerly(call, options, priority)
        holds_slot = False
        if self.queue_size:
            if not self._take_space(block=self.on_full == "block", timeout=timeout):
                waited = f" and none came free in {timeout}s" if self.on_full == "block" else ""
                raise QueueFull(f"engine {self.name!r}: {self.queue_size} tasks are pending{waited}")
            holds_slot = True
        return self._start_and_accept(call, options, seconds, priority, holds_slot)

    def _start_and_accept(
        self, call: Call, options: TaskOptions | None, seconds: float, priority: int, holds_slot: bool
    ) -> int:
        if self.autostart and self._state == _NEW:
            try:
                self.start()
            except TasQClosed:
                if holds_slot:
                    self._release_space()
                raise
        tid = next(self._ids)
        meta = None if options is None and not priority and not holds_slot else _Meta(options, priority, holds_slot)
        if self._hooked.before_enqueue:
            meta = self._before_enqueue(tid, call, meta)
        entry: Entry = (tid, call, meta)
        if self._results is not None:
            self._results.enqueued(tid)
        if self._hooked.after_enqueue:
            self._after_enqueue(tid)
        if seconds > 0:
            if not self._scheduler.schedule(time.monotonic() + seconds, entry):
                self._cancel(entry)
        else:
            self._make_ready(entry)
        if self._closed:
            self._after_late_put()
        return tid

    def _before_enqueue(self, tid: int, call: Call, meta: _Meta | None) -> _Meta | None:
        headers: dict[str, str] = {}
        name = _task_name(call)
        for hook in self._hooked.before_enqueue:
            try:
                hook(tid, name, headers)
            except BaseException as error:  # noqa: BLE001 - a hook never fails an enqueue
                _hook_raised(hook, tid, error)
        if headers:
            if meta is None:
                meta = _Meta(None, 0)
            meta.headers = checked_headers(tid, headers)
        return meta

    @staticmethod
    def _running_task(entry: Entry) -> RunningTask:
        tid, call, meta = entry
        if meta is None:
            return RunningTask(tid, _task_name(call), 1, _NO_HEADERS)
        headers = _NO_HEADERS if meta.headers is None else types.MappingProxyType(meta.headers)
        return RunningTask(tid, _task_name(call), meta.attempt, headers)

    def _after_enqueue(self, tid: int) -> None:
        for hook in self._hooked.after_enqueue:
            try:
                hook(tid)
            except BaseException as error:  # noqa: BLE001 - a hook never fails an enqueue
                _hook_raised(hook, tid, error)

    def _make_ready(self, entry: Entry) -> None:
        meta = entry[2]
        if meta is not None and meta.priority:
            with self._lock:
                heapq.heappush(self._heap, (-meta.priority, entry[0], entry))
            self._ready.put(_TOKEN)
        else:
            self._ready.put(entry)

    def _after_late_put(self) -> None:
        # enqueue() raced close(): the entry may sit behind the workers' stop signals.
        # Once every worker is gone, nobody else will look at the queue again.
        if self._live_workers == 0:
            self._cancel_queued()

    def _take_space(self, block: bool, timeout: float | None = None) -> bool:
        with self._space:
            if block:
                deadline = None if timeout is None else time.monotonic() + timeout
                while self._queued >= self.queue_size and not self._closed:
                    if not self._space.wait(_remaining(deadline)):
                        break
            if self._closed:
                raise TasQClosed(f"engine {self.name!r} is closed")
            if self._queued >= self.queue_size:
                return False
            self._queued += 1
            return True

    def _release_space(self) -> None:
        with self._space:
            self._queued -= 1
            self._space.notify()
        self._wake_async_space_waiters()

    def _wake_async_space_waiters(self) -> None:
        # All of them: one that was cancelled meanwhile must not swallow the wake-up.
        if not self._async_space_waiters:
            return
        with self._lock:
            waiters, self._async_space_waiters = self._async_space_waiters, []
        for loop, waiter in waiters:
            _wake(loop, waiter)

    # -- running ----------------------------------------------------------------------

    def _worker_main(self, index: int) -> None:
        set_thread_engine(self)
        counts = [0, 0, 0, 0]
        with self._lock:
            self._worker_counts.append(counts)
        for hook in self._hooked.worker_started:
            self._call_hook(hook)
        try:
            if self._hooks or self.queue_size:
                self._work(index, counts)
            elif self._results is not None:
                self._work_recorded(index, counts, self._results)
            else:
                self._work_plain(index, counts)
        finally:
            for hook in self._hooked.worker_stopped:
                self._call_hook(hook)
            with self._lock:
                self._live_workers -= 1
                last = self._live_workers == 0
            if last:
                self._cancel_queued()
                self._workers_gone.set()

    def _work_plain(self, index: int, counts: list[int]) -> None:
        """The hot loop, for engines with no hooks, no results and no bound on the queue."""
        get, heap, slots = self._ready.get, self._heap, self._slots
        on_done = self._on_done
        while True:
            entry = get()
            if heap:
                entry = self._prioritized(entry)
                if entry is _TOKEN:
                    continue
            if entry is None:
                return
            tid, call, _ = entry
            slots[index] = tid
            try:
                value = call()
            except BaseException as error:  # noqa: BLE001 - a task's exception is its outcome
                slots[index] = 0
                self._settle_error(entry, error, counts)
                continue
            slots[index] = 0
            if value is not None or self._abandoning:
                self._settle(entry, value, counts)
                continue
            if on_done is not None:
                try:
                    on_done(tid)
                except BaseException as error:  # noqa: BLE001 - a callback never ends a worker
                    _callback_raised("on_done", tid, error)
            counts[0] += 1  # _DONE, as a literal: this line runs once per task
            if self._joiners:
                self._notify_joiners()

    def _work_recorded(self, index: int, counts: list[int], store: ResultStore) -> None:
        """The hot loop with a result store: first attempts of plain tasks record inline.

        The start time goes to this worker's own cell of ``_started`` (written before the
        slot, so ``result()`` that finds the id in the slot reads its start), and the record
        over the task's ``enqueued_at`` key: no dict grows or shrinks per task but the
        store's bounded one.
        """
        get, heap, slots, started_at = self._ready.get, self._heap, self._slots, self._started
        on_done = self._on_done
        records, order, size = store.records, store.order, store.size
        now = time.time
        while True:
            entry = get()
            if heap:
                entry = self._prioritized(entry)
                if entry is _TOKEN:
                    continue
            if entry is None:
                return
            tid, call, meta = entry
            if meta is not None:
                slots[index] = tid
                try:
                    value = self._attempt(entry)
                except BaseException as error:  # noqa: BLE001 - a task's exception is its outcome
                    slots[index] = 0
                    self._settle_error(entry, error, counts)
                    continue
                slots[index] = 0
                self._settle(entry, value, counts)
                continue
            started_at[index] = started = now()
            slots[index] = tid
            try:
                value = call()
            except BaseException as error:  # noqa: BLE001 - a task's exception is its outcome
                slots[index] = 0
                store.started_at[tid] = started  # the general path settles it from the store
                self._settle_error(entry, error, counts)
                continue
            slots[index] = 0
            if self._abandoning or type(value) is _CoroutineType:
                store.started_at[tid] = started
                self._settle(entry, value, counts)
                continue
            finished = now()
            enqueued = records.get(tid, finished)
            records[tid] = (True, 1, value, None, enqueued, started, finished)  # type: ignore[assignment]
            order.append(tid)  # store.keep(tid), inline
            if len(order) > size:
                try:
                    del records[order.popleft()]
                except (IndexError, KeyError):  # another worker dropped the oldest first
                    pass
            if on_done is not None:
                try:
                    on_done(tid)
                except BaseException as error:  # noqa: BLE001 - a callback never ends a worker
                    _callback_raised("on_done", tid, error)
            counts[0] += 1
            if self._joiners:
                self._notify_joiners()

    def _work(self, index: int, counts: list[int]) -> None:
        """The loop with hooks or a bounded queue: first attempts still go the short way."""
        get, heap, slots = self._ready.get, self._heap, self._slots
        before, around = self._hooked.before_task, self._hooked.around_task
        wrap = around[0] if len(around) == 1 else None
        short = len(around) < 2
        started_at = None if self._results is None else self._results.started_at
        now = time.time
        running = self._running_task if self._hooks else None
        while True:
            entry = get()
            if heap:
                entry = self._prioritized(entry)
                if entry is _TOKEN:
                    continue
            if entry is None:
                return
            tid, call, meta = entry
            slots[index] = tid
            token = None if running is None else _running.set((running, entry))
            try:
                if meta is None and short:
                    if started_at is not None:
                        started_at[tid] = now()
                    for hook in before:
                        try:
                            hook(tid, 1)
                        except BaseException as hook_error:  # noqa: BLE001 - a hook never fails a task
                            _hook_raised(hook, tid, hook_error)
                    value = call() if wrap is None else wrap(tid, call)
                else:
                    value = self._attempt(entry)
            except BaseException as error:  # noqa: BLE001 - a task's exception is its outcome
                slots[index] = 0
                self._settle_error(entry, error, counts)
            else:
                slots[index] = 0
                if value is not None and type(value) is _CoroutineType:
                    self._spawn(entry, value)
                else:
                    self._report_done(entry, value, counts)
            finally:
                if token is not None:
                    _running.reset(token)

    def _attempt(self, entry: Entry) -> object:
        tid, call, meta = entry
        attempt = 1
        if meta is not None:
            attempt = meta.attempt
            if meta.holds_slot:
                meta.holds_slot = False
                self._release_space()
        if self._results is not None:
            self._results.started(tid, attempt)
        for hook in self._hooked.before_task:
            self._call_hook(hook, tid, attempt)
        for wrap in reversed(self._hooked.around_task):
            call = functools.partial(wrap, tid, call)
        return call()

    def _prioritized(self, entry: Entry | None) -> Entry | None:
        # Each prioritized entry put one _TOKEN in the queue, so the heap never holds more
        # entries than there are tokens: a worker that draws a token always finds one.
        with self._lock:
            heap = self._heap
            if entry is _TOKEN:
                return heapq.heappop(heap)[2] if heap else _TOKEN
            if entry is None or not heap:
                return entry
            meta = entry[2]
            mine = (-(meta.priority if meta is not None else 0), entry[0], entry)
            if heap[0] < mine:
                return heapq.heapreplace(heap, mine)[2]
            return entry

    def _settle(self, entry: Entry, value: object, counts: list[int] | None) -> None:
        if value is not None and type(value) is _CoroutineType:
            self._spawn(entry, value)
        else:
            self._report_done(entry, value, counts)

    def _spawn(self, entry: Entry, coro: Awaitable[object]) -> None:
        tid = entry[0]
        for wrap in self._hooked.around_coroutine:
            coro = wrap(tid, coro)
        self._detached[tid] = entry
        try:
            self._loop.spawn(coro, functools.partial(self._async_outcome, entry), contextvars.copy_context())
        except RuntimeError as error:  # no thread can start at interpreter shutdown
            self._detached.pop(tid, None)
            _close_quietly(coro)
            self._settle_error(entry, error, None)

    def _async_outcome(self, entry: Entry, value: object, error: BaseException | None) -> None:
        if self._detached.pop(entry[0], None) is None:
            return  # abandoned at exit and already reported
        token = _running.set((self._running_task, entry)) if self._hooks else None
        try:
            if error is None:
                self._report_done(entry, value, None)
            else:
                self._settle_error(entry, error, None)
        finally:
            if token is not None:
                _running.reset(token)

    def _settle_error(self, entry: Entry, error: BaseException, counts: list[int] | None) -> None:
        if not isinstance(error, RetryTask):
            self._report_failed(entry, error, counts)
            return
        tid, call, meta = entry
        attempt = 1 if meta is None else meta.attempt
        options = None if meta is None else meta.options
        max_retry = self.max_retry if options is None or options.max_retry is None else options.max_retry
        if attempt >= max_retry:
            failure = MaxRetryExceeded(f"task {tid} asked for a retry on each of its {max_retry} attempts")
            failure.__cause__ = error
            self._report_failed(entry, failure, counts)
            return
        try:
            delay = self._retry_delay(error, attempt, options)
        except Exception as bad_delay:  # noqa: BLE001 - a broken retry_delay fails the task
            self._report_failed(entry, bad_delay, counts)
            return
        if self._abandoning and not self._claim(tid):
            return
        self._count(_RETRIED, counts)
        logger.warning(
            "task %d asked for a retry (attempt %d of %d), next attempt in %.3fs: %s",
            tid,
            attempt,
            max_retry,
            delay,
            error,
            extra={"task_id": tid, "attempt": attempt},
        )
        for hook in self._hooked.after_retry:
            self._call_hook(hook, tid, error)
        if meta is None:
            meta = _Meta(None, 0)
        meta.attempt = attempt + 1  # after the hooks: current_task() there is the attempt that ended
        entry = (tid, call, meta)
        if self._eager:
            self._run_attempts(entry)
        elif delay > 0:
            if not self._scheduler.schedule(time.monotonic() + delay, entry):
                self._cancel(entry)
        elif self._closed:
            # A graceful close still finishes what runs, so the retry runs here and now:
            # queued, it would land behind the workers' stop signals.
            self._run_attempts(entry, counts)
        else:
            self._make_ready(entry)

    def _run_attempts(self, entry: Entry, counts: list[int] | None = None) -> None:
        """Run an attempt in this thread and settle it (eager mode, retries at close)."""
        if self._hooks:
            token = _running.set((self._running_task, entry))
            try:
                self._run_attempt(entry, counts)
            finally:
                _running.reset(token)
        else:
            self._run_attempt(entry, counts)

    def _run_attempt(self, entry: Entry, counts: list[int] | None) -> None:
        tid = entry[0]
        self._detached[tid] = entry
        try:
            value = self._attempt(entry)
        except BaseException as error:  # noqa: BLE001 - a task's exception is its outcome
            if self._detached.pop(tid, None) is not None:
                self._settle_error(entry, error, counts)
            return
        if self._detached.pop(tid, None) is None:
            return  # abandoned at exit and already reported
        if value is not None and type(value) is _CoroutineType:
            if not self._eager:
                self._spawn(entry, value)
                return
            value, failure = self._await_here(entry[0], value)
            if failure is not None:
                self._settle_error(entry, failure, counts)
                return
        self._report_done(entry, value, counts)

    def _await_here(self, tid: int, awaitable: Awaitable[object]) -> tuple[object, BaseException | None]:
        for wrap in self._hooked.around_coroutine:
            awaitable = wrap(tid, awaitable)
        try:
            return self._loop.run(awaitable), None
        except BaseException as error:  # noqa: BLE001 - a task's exception is its outcome
            return None, error

    def _retry_delay(self, error: RetryTask, attempt: int, options: TaskOptions | None) -> float:
        if error.delay is not None:
            return error.delay
        delay = self.retry_delay if options is None or options.retry_delay is None else options.retry_delay
        if callable(delay):
            return seconds(delay(attempt))
        return delay

    # -- outcomes ---------------------------------------------------------------------

    def _report_done(self, entry: Entry, value: object, counts: list[int] | None) -> None:
        tid, _, meta = entry
        if self._abandoning and not self._claim(tid):
            return
        if self._results is not None:
            self._results.finished(tid, TaskStatus.DONE, 1 if meta is None else meta.attempt, value, None)
        for hook in self._hooked.after_done:
            try:
                hook(tid, value)
            except BaseException as error:  # noqa: BLE001 - a hook never ends a worker
                _hook_raised(hook, tid, error)
        on_done = self._on_done
        if on_done is not None:
            try:
                on_done(tid)
            except BaseException as error:  # noqa: BLE001 - a callback never ends a worker
                _callback_raised("on_done", tid, error)
        if counts is not None:
            counts[0] += 1  # _DONE
        else:
            self._count(_DONE, None)
        if self._joiners:
            self._notify_joiners()

    def _report_failed(
        self, entry: Entry, error: BaseException, counts: list[int] | None, claimed: bool = False
    ) -> None:
        tid, call, meta = entry
        if self._abandoning and not claimed and not self._claim(tid):
            return
        if self._eager:
            _eager_failure.error = error
        cancelled = isinstance(error, TaskCancelled)
        attempts = 1 if meta is None else meta.attempt
        if cancelled:
            attempts -= 1  # the attempt that was due did not run
        if meta is not None and meta.holds_slot:
            meta.holds_slot = False
            self._release_space()
        if self._results is not None:
            self._results.finished(tid, TaskStatus.FAILED, attempts, None, error)
        for hook in self._hooked.after_failed:
            self._call_hook(hook, tid, error)
        on_failed = self._on_failed
        if on_failed is not None:
            try:
                on_failed(tid, error)
            except BaseException as callback_error:  # noqa: BLE001 - a callback never ends a worker
                _callback_raised("on_failed", tid, callback_error)
        if cancelled:
            logger.warning("task %d cancelled: %s", tid, error, extra={"task_id": tid})
            self._count(_CANCELLED, counts)
        else:
            logger.error(
                "task %d (%s) failed: %s: %s",
                tid,
                _describe(call),
                type(error).__name__,
                error,
                exc_info=error,
                extra={"task_id": tid},
            )
        self._count(_FAILED, counts)
        if self._joiners:
            self._notify_joiners()

    def _cancel(self, entry: Entry) -> None:
        self._report_failed(entry, TaskCancelled(f"engine {self.name!r} closed before it ran"), None)

    def _cancel_queued(self) -> None:
        sentinels = 0
        while True:
            try:
                entry = self._ready.get_nowait()
            except Empty:
                break
            if entry is None:
                sentinels += 1
                continue
            if entry is _TOKEN:
                with self._lock:
                    entry = heapq.heappop(self._heap)[2] if self._heap else None
                if entry is None:
                    continue
            self._cancel(entry)
        for _ in range(sentinels):
            self._ready.put(None)

    def _count(self, slot: int, counts: list[int] | None) -> None:
        if counts is not None:
            counts[slot] += 1
        else:
            with self._lock:
                self._shared_counts[slot] += 1

    def _call_hook(self, hook: Callable[..., object], *args: Any) -> None:
        try:
            hook(*args)
        except BaseException as error:  # noqa: BLE001 - a hook never ends a worker
            _hook_raised(hook, args[0] if args else None, error)

    # -- eager mode -------------------------------------------------------------------

    def _run_eagerly(self, call: Call, options: TaskOptions | None, priority: int) -> int:
        tid = next(self._ids)
        entry: Entry = (tid, call, _Meta(options, priority))
        if self._results is not None:
            self._results.enqueued(tid)
        if self._hooked.before_enqueue:
            self._before_enqueue(tid, call, entry[2])
        if self._hooked.after_enqueue:
            self._after_enqueue(tid)
        _eager_failure.error = None
        self._run_attempts(entry)
        error, _eager_failure.error = _eager_failure.error, None
        if error is not None and self.eager_propagate:
            raise error
        return tid

    # -- waiting and looking ----------------------------------------------------------

    def join(self, timeout: float | None = None) -> bool:
        """Wait until every accepted task has finished and been reported; True if so."""
        if timeout is not None:
            timeout = check_seconds("timeout", timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._joined:
            self._joiners += 1
            try:
                while self._outstanding() > 0:
                    remaining = _remaining(deadline)
                    if remaining is not None and remaining <= 0:
                        return False
                    self._joined.wait(remaining)
                return True
            finally:
                self._joiners -= 1

    def _notify_joiners(self) -> None:
        with self._joined:
            if self._outstanding() <= 0:
                self._joined.notify_all()

    def _totals(self) -> list[int]:
        with self._lock:
            totals = list(self._shared_counts)
            for counts in self._worker_counts:
                for slot in range(4):
                    totals[slot] += counts[slot]
        return totals

    def _enqueued(self) -> int:
        # itertools.count is the lock-free id source; its repr is "count(<next id>)".
        return int(repr(self._ids)[6:-1]) - self._first_id

    def _outstanding(self) -> int:
        totals = self._totals()
        return self._enqueued() - totals[_DONE] - totals[_FAILED]

    def running_ids(self) -> list[int]:
        """The ids of the tasks running right now."""
        return sorted([tid for tid in self._slots if tid] + list(self._detached))

    def stats(self) -> Stats:
        totals = self._totals()
        enqueued = self._enqueued()
        running = sum(1 for tid in self._slots if tid) + len(self._detached)
        return Stats(
            enqueued=enqueued,
            pending=max(0, enqueued - totals[_DONE] - totals[_FAILED] - running),
            running=running,
            done=totals[_DONE],
            failed=totals[_FAILED],
            retried=totals[_RETRIED],
            cancelled=totals[_CANCELLED],
            workers=sum(1 for thread in self._threads if thread.is_alive()),
        )

    def result(self, task_id: int) -> TaskResult | None:
        """What is known of a task when ``results`` keeps it: pending, running or recent."""
        if self._results is None:
            return None
        since = None
        slots = self._slots
        if task_id in slots:
            try:
                index = slots.index(task_id)
                since = self._started[index]
                if slots[index] != task_id:  # it finished meanwhile: the record says so
                    since = None
            except ValueError:
                pass
        running = since is not None or task_id in self._detached
        return self._results.get(task_id, since, running)

    # -- decorator --------------------------------------------------------------------

    @overload
    def background(self, fn: Callable[P, R], /) -> BackgroundFunction[P, R]: ...

    @overload
    def background(
        self,
        fn: None = None,
        /,
        *,
        max_retry: int | None = None,
        retry_delay: RetryDelay | None = None,
        priority: int = 0,
        name: str | None = None,
    ) -> Background: ...

    def background(
        self,
        fn: Callable[..., Any] | None = None,
        /,
        *,
        max_retry: int | None = None,
        retry_delay: RetryDelay | None = None,
        priority: int = 0,
        name: str | None = None,
    ) -> BackgroundFunction[..., Any] | Background:
        """``@tasq.background`` bound to this engine."""
        from .decorators import background

        decorate = background(max_retry=max_retry, retry_delay=retry_delay, priority=priority, name=name, tasq=self)
        return decorate if fn is None else decorate(fn)

    def __repr__(self) -> str:
        state = ("new", "started", "closed")[self._state]
        return f"<TasQ {self.name!r} {state} workers={self.workers}>"


# What inspect.signature(), help() and IDEs show for the **options form of enqueue, and the
# name a misspelt option's TypeError gives.
TasQ.enqueue.__signature__ = inspect.signature(TasQ._enqueue_checked)  # type: ignore[attr-defined]
TasQ._enqueue_checked.__qualname__ = "TasQ.enqueue"


# -- input checks ---------------------------------------------------------------------


def _resolve(task: object) -> tuple[Call, TaskOptions | None]:
    """The zero-argument call that runs ``task``, and its per-task options."""
    if task is None:
        raise TypeError("cannot enqueue None: pass a callable or an object with a do() method")
    options = getattr(task, "tasq_options", None)
    if not isinstance(options, TaskOptions):
        options = None
    do = getattr(task, "do", None)
    if do is not None and callable(do):
        _reject_generator(do)
        return do, options
    if inspect.iscoroutine(task):
        raise TypeError("enqueue takes the coroutine function, not a coroutine object: drop the ()")
    if not callable(task):
        raise TypeError(
            f"cannot enqueue {type(task).__name__}: pass a zero-argument callable or an object with a do() method"
        )
    _reject_generator(task)
    return task, options


def _reject_generator(fn: object) -> None:
    target = fn
    while isinstance(target, functools.partial):
        target = target.func
    target = getattr(target, "__func__", target)  # a bound method's function
    code = getattr(target, "__code__", None)
    if code is None and callable(target) and not inspect.isroutine(target):
        method = type(target).__call__  # a callable object: its __call__ decides
        code = getattr(getattr(method, "__func__", method), "__code__", None)
    if code is not None and code.co_flags & _GENERATOR_FLAGS:
        raise TypeError(f"{_describe(fn)} is a generator function: a task must return, not yield")


# -- helpers --------------------------------------------------------------------------


class _HookLists:
    """Per lifecycle point, the bound hook methods that a Hooks subclass overrides."""

    __slots__ = HOOK_NAMES

    def __init__(self, hooks: list[Hooks]) -> None:
        for name in HOOK_NAMES:
            setattr(self, name, tuple(getattr(h, name) for h in hooks if overridden(h, name)))

    before_enqueue: tuple[Callable[[int, str, dict[str, str]], object], ...]
    after_enqueue: tuple[Callable[[int], object], ...]
    before_task: tuple[Callable[[int, int], object], ...]
    around_task: tuple[Callable[[int, Call], object], ...]
    around_coroutine: tuple[Callable[[int, Awaitable[object]], Awaitable[object]], ...]
    after_retry: tuple[Callable[[int, RetryTask], object], ...]
    after_done: tuple[Callable[[int, object], object], ...]
    after_failed: tuple[Callable[[int, BaseException], object], ...]
    worker_started: tuple[Callable[[], object], ...]
    worker_stopped: tuple[Callable[[], object], ...]


def _hook_raised(hook: Callable[..., object], task_id: int | None, error: BaseException) -> None:
    logger.error("hook %s raised for task %s", _describe(hook), task_id, exc_info=error, extra={"task_id": task_id})


def _nothing() -> None:
    """Stands in for the call of a task abandoned at exit."""


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _describe(fn: object) -> str:
    options = getattr(getattr(fn, "__self__", None), "tasq_options", None)  # BackgroundCall.do
    if isinstance(options, TaskOptions) and options.name:
        return options.name
    target = getattr(fn, "func", fn)  # functools.partial
    name = getattr(target, "__qualname__", None) or type(target).__qualname__
    module = getattr(target, "__module__", None)
    return f"{module}.{name}" if module else str(name)


def _task_name(call: Call) -> str:
    """``_describe`` of an entry's call, at its quickest for functions and their partials."""
    fn = call.func if type(call) is functools.partial else call
    if type(fn) is _FunctionType:
        module = fn.__module__
        if module:
            return f"{module}.{fn.__qualname__}"
    return _describe(call)


def _callback_raised(which: str, tid: int, error: BaseException) -> None:
    logger.error("%s callback raised for task %d", which, tid, exc_info=error, extra={"task_id": tid})


def _wake(loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[None]) -> None:
    def set_result() -> None:
        if not waiter.done():
            waiter.set_result(None)

    try:
        loop.call_soon_threadsafe(set_result)
    except RuntimeError:  # that loop is closed, and its waiter with it
        pass


def _close_quietly(coro: Awaitable[object]) -> None:
    close = getattr(coro, "close", None)
    if close is not None:
        close()
