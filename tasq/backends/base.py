"""The engine API over a distributed task queue, and what a backend adds to it.

``BrokerEngine`` is ``TasQ`` for tasks that run in other processes: ``enqueue`` checks the
task (a ``@background`` function with JSON arguments), takes an id from the ledger and
hands a ``TaskMessage`` to the broker (``accepting.py``); workers run it through an
``Executor``, which fires the engine's hooks and callbacks there. A backend (``dramatiq.py``) is one subclass that
implements the abstract methods of ``surface.py``: how to reach its broker, how to send one
message, and how to run workers (``serve``, the ``tasq worker`` command). Its worker glue
calls ``engine.executor`` for each attempt: ``begin`` → ``run`` → ``settle``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal, ParamSpec
from urllib.parse import urlsplit, urlunsplit

from .. import lifecycle
from ..checks import check_seconds, remaining
from ..exceptions import TaskCancelled, TasQClosed
from ..hooks import given_up
from ..payload import resolve_call, resolve_submit
from ..task import RetryDelay, TaskOptions
from .accepting import BrokerAccepting
from .control import BrokerControl
from .execution import Executor
from .ledger import Ledger, LocalLedger
from .looking import BrokerLooking
from .payload import TaskMessage
from .registry import register_engine
from .surface import WorkerOptions

__all__ = ["BrokerEngine", "WorkerOptions"]

logger = logging.getLogger("tasq")

P = ParamSpec("P")
OnDone = Callable[[int], object]
OnFailed = Callable[[int, BaseException], object]


class BrokerEngine(BrokerAccepting, BrokerControl, BrokerLooking):
    """``TasQ`` whose tasks run in worker processes, reached through a broker.

    ``on_done``/``on_failed`` and the hooks fire where a task runs: in the worker process,
    through the engine of the same name that the app's code made there.
    """

    # The capabilities TasQ declares that a broker engine has; backend_name is surface.py's.
    # Cancel and retry go through the ledger (Redis, or the in-process one): see control.py.
    # A broker with no ledger (RabbitMQ alone) answers False to every cancel and ValueError
    # to every retry.
    supports_cancel = True
    supports_retry = True
    supports_time_limit = True

    __slots__ = (
        "_accepted_count",
        "_guard",
        "_is_started",
        "_ledger",
        "_local",
        "_producer",
        "_shut_down",
        "_workers_running",
        "broker_url",
        "executor",
        "local_worker",
    )

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
        backend: str | None = None,
        broker_url: str | None = None,
        time_limit: float | None = None,
        store: str | None = None,
        store_sync: Literal["normal", "full"] = "normal",
        store_poll: float = 1.0,
        store_lease: float = 30.0,
    ) -> None:
        url = broker_url if broker_url is not None else os.environ.get("TASQ_BROKER_URL")
        # The contract checks every option (refused_options below), then this engine's state.
        super().__init__(
            workers,
            max_retry,
            retry_delay,
            queue_size,
            on_full,
            on_done,
            on_failed,
            results,
            name,
            eager=eager,
            autostart=autostart,
            shutdown_timeout=shutdown_timeout,
            backend=self.backend_name if backend is None else backend,
            broker_url=url or None,
            time_limit=time_limit,
            store=store,
            store_sync=store_sync,
            store_poll=store_poll,
            store_lease=store_lease,
        )
        assert url  # refused_options refused a missing one
        self.local_worker = self.check_broker_url(url)
        self.broker_url = url
        self._guard = threading.Lock()
        self._reset_broker_state()
        self.executor = Executor(self)
        register_engine(self)
        lifecycle.track(self)

    def _reset_broker_state(self) -> None:
        """What belongs to one process: made anew in a forked child."""
        self._is_started = False
        self._shut_down = False
        self._workers_running = False
        self._ledger: Ledger | None = None
        self._local = LocalLedger(self.results)  # eager tasks' and the in-memory broker's
        self._producer = uuid.uuid4().hex  # this engine instance, as join() counts its tasks
        self._accepted_count = 0

    # -- configuration ------------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self._is_started

    def _hooks_changed(self) -> None:
        # In a worker process the hooks fire around every task it runs.
        self.executor.set_hooks(list(self._hooks))

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Start; with an in-process broker, its worker threads start here too."""
        with self._guard:
            if self._closed:
                raise TasQClosed(f"engine {self.name!r} is closed")
            self._is_started = True
            if self.local_worker and not self._eager and not self._workers_running:
                self._connected_locked()
                self._start_workers()
                self._workers_running = True
        lifecycle.engine_started(self)

    def close(self, wait: bool = True, timeout: float | None = None, cancel_pending: bool = False) -> list[int]:
        """Stop accepting tasks and release the broker connection.

        Tasks already sent belong to the broker and its workers: a web process that closes
        loses none of them. With an in-process broker, close works as the thread engine's.
        """
        if timeout is not None:
            timeout = check_seconds("timeout", timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._guard:
            first = not self._closed
            self._closed = True
            workers_running = self._workers_running
        if first:
            lifecycle.engine_closing(self)
        running: list[int] = []
        if workers_running:
            if not wait:
                threading.Thread(
                    target=self._close_here, args=(None, cancel_pending), name=f"tasq-{self.name}-close", daemon=True
                ).start()
                return self.running_ids()
            running = self._close_here(deadline, cancel_pending)
        elif self.local_worker:
            self._cancel_left()
        if first and not workers_running:
            self._disconnect(close=True)
        if not running:
            lifecycle.forget(self)
        return running

    def _close_here(self, deadline: float | None, cancel_pending: bool) -> list[int]:
        executor = self.executor
        executor.closing = True
        executor.cancel_pending = executor.cancel_pending or cancel_pending
        now = time.monotonic()
        later = {task_id for task_id, due in list(executor.not_before.items()) if due > now}
        waited = set(executor.running) if executor.cancel_pending else set(self._local.live_ids()) - later
        self._local.wait_until(lambda live: not waited.intersection(live), remaining(deadline))
        self._stop_workers(remaining(deadline))
        executor.stop_watchdog()
        with self._guard:
            self._workers_running = False
        self._cancel_left()
        self._disconnect(close=True)
        return self.running_ids()

    def _cancel_left(self) -> None:
        """With no worker left here, what has not run never will: report it cancelled."""
        running = set(self.executor.running)
        for task_id in self._local.live_ids():
            if task_id not in running:
                message = self._stand_in(task_id)
                self.executor.fail(self._local, message, TaskCancelled(f"engine {self.name!r} closed before it ran"))

    def shutdown(self, reason: str = "the app shut down", *, timeout: float | None = None) -> None:
        """Close for good (an app's shutdown): tasks already sent stay with the broker; with an
        in-process broker, drain within ``timeout`` (default ``shutdown_timeout``), then report
        what still runs as cancelled, saying ``reason``. Again does nothing."""
        with self._guard:
            if self._shut_down:
                return
            self._shut_down = True
        try:
            self.close(timeout=self.shutdown_timeout if timeout is None else timeout)
        finally:
            self.executor.abandon_running(given_up(reason))
            self.executor.stop_watchdog()
            lifecycle.forget(self)

    def _after_fork_in_child(self) -> None:
        """A forked child starts empty: what was sent belongs to the broker, not to it."""
        was_started = self._is_started and not self._closed
        self._guard = threading.Lock()
        self._disconnect(close=False)
        self._reset_broker_state()
        self.executor = self.executor.fresh()
        if was_started:
            self.autostart = True  # an in-process broker's workers start again with a task

    # -- enqueueing ---------------------------------------------------------------------

    def enqueue(
        self,
        task: object,
        *,
        delay: float | timedelta | datetime | None = None,
        priority: int | None = None,
        timeout: float | None = None,
    ) -> int:
        """Send a ``@background`` call (``fn.task(*args)``) to the workers; return its id."""
        fn, args, kwargs, options = resolve_call(task)
        return self._accept(fn, args, kwargs, options, delay, priority, timeout)

    def _enqueue_call(
        self, fn: Callable[..., object], args: tuple[Any, ...], kwargs: dict[str, Any], options: TaskOptions
    ) -> int:
        """What ``@background``'s ``enqueue`` sends: the call, its arguments and its options."""
        return self._accept(fn, args, kwargs, options, None, None, None)

    def submit(self, fn: Callable[P, object], /, *args: P.args, **kwargs: P.kwargs) -> int:
        """``enqueue`` for a ``@background`` function and its arguments."""
        function, args_, kwargs_, options = resolve_submit(fn, args, kwargs)
        return self._accept(function, args_, kwargs_, options, None, None, None)

    async def aenqueue(
        self,
        task: object,
        *,
        delay: float | timedelta | datetime | None = None,
        priority: int | None = None,
        timeout: float | None = None,
    ) -> int:
        """``enqueue`` for async code: the broker round trip runs off the event loop."""
        if self._eager or self.local_worker:
            return self.enqueue(task, delay=delay, priority=priority, timeout=timeout)
        return await asyncio.to_thread(self.enqueue, task, delay=delay, priority=priority, timeout=timeout)

    def _connected(self) -> Ledger:
        ledger = self._ledger
        if ledger is None:
            with self._guard:
                ledger = self._connected_locked()
        return ledger

    def _connected_locked(self) -> Ledger:
        if self._ledger is None:
            self._ledger = self._connect()
        return self._ledger

    def _stand_in(self, task_id: int) -> TaskMessage:
        """A message for a task known only by its id (to report it cancelled)."""
        return self._message(task_id, "?", [], {}, TaskOptions())

    def __repr__(self) -> str:
        state = "closed" if self._closed else "started" if self._is_started else "new"
        return f"<{type(self).__name__} {self.name!r} {state} broker={redact(self.broker_url)}>"


def redact(url: str) -> str:
    """The URL without its password, for logs and reprs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + netloc))
