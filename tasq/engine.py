"""The contract every engine keeps, and the making of one from its options.

``TasQ(...)`` makes the thread engine (``tasq.thread``); ``TasQ(backend="dramatiq", ...)`` the
engine of that backend, found by name (``engines.engine_class``) and imported only when asked for.
Both are ``TasQ``: what an integration may rely on is here, and what an engine can or cannot
do is said by its capability flags, never by its type. ``engine.background`` and
``engine.periodic`` are the decorators bound to an engine (``binding.py``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal, ParamSpec

from . import lifecycle
from .binding import BoundDecorators
from .checks import check_bool
from .engines import engine_class
from .hooks import Hooks
from .options import EngineOptions, check_option
from .task import RetryDelay, Stats, TaskResult

__all__ = ["TasQ", "engine_class"]

P = ParamSpec("P")

OnDone = Callable[[int], object]
OnFailed = Callable[[int, BaseException], object]


class TasQ(BoundDecorators):
    """An engine: it runs tasks in the background and reports each outcome exactly once.

    Every id ``enqueue`` returns reaches exactly one of ``on_done`` / ``on_failed``, once.

    ``TasQ(...)`` is the thread engine, a pool of worker threads in this process; with
    ``backend=`` it is a distributed engine whose tasks run in worker processes. Options:

    - ``workers``: the number of worker threads (>= 1).
    - ``max_retry``: attempts a task may make by raising ``RetryTask`` (>= 1).
    - ``retry_delay``: seconds before a retry, or a callable ``attempt -> seconds``
      (``tasq.backoff(0.5)``).
    - ``queue_size``: at most this many tasks pending (0: no bound); the thread engine only.
    - ``on_full``: when ``queue_size`` tasks are pending, ``"block"`` the caller or
      ``"raise"`` ``QueueFull``.
    - ``on_done``: ``callback(task_id)`` once a task succeeded.
    - ``on_failed``: ``callback(task_id, error)`` once a task failed or was cancelled.
    - ``results``: keep the last this many finished tasks for ``result()`` (0: none).
    - ``name``: the engine's name, in logs and thread names (and a worker's lookup).
    - ``eager``: run each task in the caller's thread, inside ``enqueue`` (for tests).
    - ``autostart``: start at the first task rather than at ``start()``.
    - ``shutdown_timeout``: seconds ``shutdown()`` and the interpreter's exit wait for
      running tasks before reporting them cancelled (None: wait for them).
    - ``backend``: ``"thread"``, or a distributed backend such as ``"dramatiq"``.
    - ``broker_url``: the broker of a distributed backend (default: ``TASQ_BROKER_URL``).
    - ``time_limit``: seconds an attempt may run before it fails with ``TimeLimitExceeded``
      (not retried); None: no limit. ``@background(time_limit=)`` sets one per task.
    - ``store``: ``"sqlite:///PATH"`` keeps every accepted task in that file until it ends,
      across crashes and restarts, shared by every process with the same ``name`` and store
      (None: in memory). ``store_sync``: ``"normal"`` (survives a process crash) or ``"full"``
      (also power loss). ``store_poll``: seconds between looks for work other processes
      stored. ``store_lease``: seconds after which a run whose process died runs again.
    """

    # -- capabilities ---------------------------------------------------------------------
    # Declared here only; an engine sets those it has to True (``supports_cancel = True``).
    # Does it run tasks in this process's threads, so that draining it at exit is its job?
    runs_tasks_in_process: ClassVar[bool] = False
    # Can it run any callable (a lambda, a closure, an object with do())? Else only
    # @background functions with JSON arguments, found by name where they run.
    supports_any_callable: ClassVar[bool] = False
    # Can it bound the tasks pending in this process (queue_size, on_full)?
    supports_queue_size: ClassVar[bool] = False
    # Can it cancel a task that has not started (``cancel``)? Else ``cancel`` returns False.
    supports_cancel: ClassVar[bool] = False
    # Can it enqueue a failed task again (``retry``)? Else ``retry`` raises ValueError.
    supports_retry: ClassVar[bool] = False
    # Does it end an attempt that outlives ``time_limit``? Else the option is refused.
    supports_time_limit: ClassVar[bool] = False

    __slots__ = (
        "__weakref__",
        "_closed",
        "_eager",
        "_eager_propagate",
        "_hooks",
        "_on_done",
        "_on_failed",
        "autostart",
        "max_retry",
        "name",
        "on_full",
        "queue_size",
        "results",
        "retry_delay",
        "shutdown_timeout",
        "store",
        "store_lease",
        "store_poll",
        "store_sync",
        "time_limit",
        "workers",
    )

    def __new__(cls, *args: Any, backend: str = "thread", **kwargs: Any) -> TasQ:
        # TasQ(...) is the contract: the engine made is the one its backend names. Python
        # then runs that engine's __init__ with the same arguments.
        if cls is not TasQ:
            return super().__new__(cls)
        return super().__new__(engine_class(backend, kwargs.get("store")))

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
        time_limit: float | None = None,
        store: str | None = None,
        store_sync: Literal["normal", "full"] = "normal",
        store_poll: float = 1.0,
        store_lease: float = 30.0,
    ) -> None:
        options = EngineOptions(
            workers=workers,
            max_retry=max_retry,
            retry_delay=retry_delay,
            queue_size=queue_size,
            on_full=on_full,
            on_done=on_done,
            on_failed=on_failed,
            results=results,
            name=name,
            eager=eager,
            autostart=autostart,
            shutdown_timeout=shutdown_timeout,
            backend=backend,
            broker_url=broker_url,
            time_limit=time_limit,
            store=store,
            store_sync=store_sync,
            store_poll=store_poll,
            store_lease=store_lease,
        )
        for _, error in type(self).refused_options(options):
            raise error
        self.workers = options.workers
        self.max_retry = options.max_retry
        self.retry_delay = options.retry_delay
        self.queue_size = options.queue_size
        self.on_full = options.on_full
        self._on_done = options.on_done
        self._on_failed = options.on_failed
        self.results = options.results
        self.name = options.name
        forced, propagate = lifecycle.eager_forced()
        self._eager = options.eager or forced
        self._eager_propagate = propagate
        self.autostart = options.autostart
        self.shutdown_timeout = options.shutdown_timeout
        self.time_limit = options.time_limit
        self.store = options.store
        self.store_sync = options.store_sync
        self.store_poll = options.store_poll
        self.store_lease = options.store_lease
        self._closed = False
        self._hooks: list[Hooks] = []

    @classmethod
    def refused_options(cls, options: EngineOptions) -> list[tuple[str, Exception]]:
        """(option, error) for each option this engine cannot take as given; checked at
        construction and by the integrations' settings, without making an engine."""
        return []

    # -- configuration --------------------------------------------------------------------

    @property
    def on_done(self) -> OnDone | None:
        callback: OnDone | None = self._on_done
        return callback

    @on_done.setter
    def on_done(self, callback: OnDone | None) -> None:
        self._before_start("on_done")
        self._on_done = check_option("on_done", callback)

    @property
    def on_failed(self) -> OnFailed | None:
        callback: OnFailed | None = self._on_failed
        return callback

    @on_failed.setter
    def on_failed(self, callback: OnFailed | None) -> None:
        self._before_start("on_failed")
        self._on_failed = check_option("on_failed", callback)

    @property
    def eager(self) -> bool:
        """Run each task in the caller's thread, inside ``enqueue`` (for tests)."""
        return self._eager

    @eager.setter
    def eager(self, value: bool) -> None:
        self._eager = check_bool("eager", value)
        self._eager_changed()

    def _eager_changed(self) -> None:
        """An engine that must act when ``eager`` changes does it here."""

    def _before_start(self, what: str) -> None:
        if self.started or self.closed:
            raise RuntimeError(f"{what} can only be set before the engine starts")

    def add_hooks(self, hooks: Hooks) -> None:
        """Add lifecycle hooks (integrations use this); only before the engine starts."""
        if not isinstance(hooks, Hooks):
            raise TypeError(f"hooks must be a tasq.Hooks instance, not {type(hooks).__name__}")
        self._before_start("hooks")
        self._hooks.append(hooks)
        self._hooks_changed()

    def _hooks_changed(self) -> None:
        """An engine that keeps its own view of ``_hooks`` renews it here."""

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def started(self) -> bool:
        raise NotImplementedError

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the workers; again does nothing. Tasks enqueued before now run now."""
        raise NotImplementedError

    def close(self, wait: bool = True, timeout: float | None = None, cancel_pending: bool = False) -> list[int]:
        """Stop accepting tasks; run what is pending (or cancel it); wait for running tasks.

        Returns the ids still running on return.
        """
        raise NotImplementedError

    def shutdown(self, reason: str = "the app shut down", *, timeout: float | None = None) -> None:
        """Close for good: drain within ``timeout`` (default: ``shutdown_timeout``), then report
        each task still running as cancelled, saying ``reason``. Again does nothing.

        The one way an app's shutdown ends an engine: every integration calls it.
        """
        raise NotImplementedError

    def _close_at_exit(self) -> None:
        """Interpreter exit: ``shutdown()`` within ``shutdown_timeout``."""
        self.shutdown("the interpreter exited")

    def _after_fork_in_child(self) -> None:
        """A forked child starts empty: what was pending belongs to the parent."""
        raise NotImplementedError

    def __enter__(self) -> TasQ:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- enqueueing -----------------------------------------------------------------------

    def enqueue(
        self,
        task: object,
        *,
        delay: float | timedelta | datetime | None = None,
        priority: int | None = None,
        timeout: float | None = None,
    ) -> int:
        """Accept a task (an object with ``do()``, or a zero-argument callable); return its id.

        ``priority`` not given (None) is the task's own (``@background(priority=)``), else 0.
        """
        raise NotImplementedError

    def _enqueue_call(
        self, fn: Callable[..., object], args: tuple[Any, ...], kwargs: dict[str, Any], options: Any
    ) -> int:
        """``enqueue`` of ``fn(*args, **kwargs)`` with its ``@background`` options."""
        raise NotImplementedError

    def submit(self, fn: Callable[P, object], /, *args: P.args, **kwargs: P.kwargs) -> int:
        """``enqueue`` for a function and its arguments."""
        raise NotImplementedError

    async def aenqueue(
        self,
        task: object,
        *,
        delay: float | timedelta | datetime | None = None,
        priority: int | None = None,
        timeout: float | None = None,
    ) -> int:
        """``enqueue`` for coroutines: waiting for room never blocks the event loop."""
        raise NotImplementedError

    def enqueue_many(
        self,
        tasks: Iterable[object],
        *,
        delay: float | timedelta | datetime | None = None,
        priority: int | None = None,
    ) -> list[int]:
        """Accept many tasks in one call: all of them (their ids, in order) or none.

        Every item is checked before any is accepted; a refused one raises the TypeError or
        ValueError ``enqueue`` would, its message naming the item's index (``tasks[3]: ...``).
        """
        raise NotImplementedError

    # -- task control ---------------------------------------------------------------------

    def cancel(self, task_id: int) -> bool:
        """Cancel a task that has not started: pending, delayed or waiting for its next attempt.

        True: it will not run, and it is reported once to ``on_failed`` with ``TaskCancelled``.
        False for a task that is running or finished, or an id this engine does not know:
        nothing changes. A worker that starts the task at the same moment either runs it
        (False) or finds it cancelled (True), never both. ``task_id`` must be an int >= 1.
        """
        raise NotImplementedError

    def retry(self, task_id: int) -> int:
        """Enqueue a failed task again, the same call and arguments, as a new id (returned).

        The failed task's record is kept. An id that is unknown (or no longer kept by
        ``results``), not finished, or succeeded: ``ValueError``.
        """
        raise NotImplementedError

    # -- waiting and looking --------------------------------------------------------------

    def join(self, timeout: float | None = None) -> bool:
        """Wait until every accepted task has finished and been reported; True if so."""
        raise NotImplementedError

    def running_ids(self) -> list[int]:
        """The ids of the tasks running right now."""
        raise NotImplementedError

    def _settle_before_exit(self, timeout: float) -> bool:
        """After ``close(wait=False)`` as the process exits: wait up to ``timeout`` for what this
        process must still finish itself; True once nothing is left."""
        return self.join(timeout)

    def stats(self) -> Stats:
        raise NotImplementedError

    def result(self, task_id: int) -> TaskResult | None:
        """What is known of a task when ``results`` keeps it: pending, running or recent."""
        raise NotImplementedError


# What inspect.signature(TasQ), help() and IDEs show: the constructor's parameters, not the
# (*args, backend, **kwargs) of the dispatch in __new__.
_init = inspect.signature(TasQ.__init__)
TasQ.__signature__ = _init.replace(  # type: ignore[attr-defined]
    parameters=list(_init.parameters.values())[1:], return_annotation=inspect.Signature.empty
)
