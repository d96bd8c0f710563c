"""The engine API over a distributed task queue, and what a backend adds to it.

``BrokerEngine`` is ``TasQ`` for tasks that run in other processes: ``enqueue`` checks the
task (a ``@background`` function with JSON arguments), takes an id from the ledger and
hands a ``TaskMessage`` to the broker; workers run it through an ``Executor``, which fires
the engine's hooks and callbacks there. A backend (``dramatiq.py``; Celery next) is one
subclass that implements the methods marked abstract below: how to reach its broker, how
to send one message, and how to run workers (``serve``, the ``tasq worker`` command). Its
worker glue calls ``engine.executor`` for each attempt: ``begin`` → ``run`` → ``settle``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal, ParamSpec
from urllib.parse import urlsplit, urlunsplit

from .. import lifecycle
from ..checks import check_schedule, check_seconds
from ..engine import TasQ
from ..exceptions import TaskCancelled, TasQClosed
from ..hooks import Hooks, checked_headers
from ..task import RetryDelay, Stats, TaskOptions, TaskResult
from .execution import Executor, call_hook
from .ledger import Ledger, LocalLedger
from .payload import TaskMessage, check_json, resolve_call, resolve_submit, task_name
from .registry import register_engine

__all__ = ["BrokerEngine", "WorkerOptions"]

logger = logging.getLogger("tasq")

P = ParamSpec("P")
OnDone = Callable[[int], object]
OnFailed = Callable[[int, BaseException], object]


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerOptions:
    """What ``tasq worker`` was asked for."""

    modules: tuple[str, ...]
    broker_url: str | None  # None: the one the engines made by those modules use
    processes: int
    threads: int
    shutdown_timeout: float  # seconds a graceful stop waits for running tasks
    names: tuple[str, ...] = ()  # the engines whose tasks to run; () = those the modules make
    paths: tuple[str, ...] = (".",)
    verbose: int = 0


class BrokerEngine(TasQ, ABC):
    """``TasQ`` whose tasks run in worker processes, reached through a broker.

    ``on_done``/``on_failed`` and the hooks fire where a task runs: in the worker process,
    through the engine of the same name that the app's code made there.
    """

    # The name TasQ(backend=...) and `tasq worker --backend` select.
    backend_name: ClassVar[str]

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
    ) -> None:
        backend = self.backend_name if backend is None else backend
        if backend != self.backend_name:
            raise ValueError(f"{type(self).__name__} is backend {self.backend_name!r}, not {backend!r}")
        # Checked before TasQ.__init__, which registers the engine for interpreter exit.
        if type(queue_size) is int and queue_size:
            raise ValueError(
                f"queue_size bounds the thread engine's own queue; with backend={backend!r} the broker "
                "holds pending tasks: leave queue_size at 0"
            )
        url = broker_url if broker_url is not None else os.environ.get("TASQ_BROKER_URL")
        if not url:
            raise ValueError(
                f"backend={backend!r} needs broker_url=, e.g. 'redis://localhost:6379/0' or "
                "'amqp://guest:guest@localhost:5672/' (or the TASQ_BROKER_URL environment variable)"
            )
        if not isinstance(url, str):
            raise TypeError(f"broker_url must be a str, not {type(url).__name__}")
        local_worker = self.check_broker_url(url)
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
            backend=backend,
            broker_url=url,
        )
        self.local_worker = local_worker
        self.broker_url = url
        self._guard = threading.Lock()
        self._reset_broker_state()
        self.executor = Executor(self)
        register_engine(self)

    def _reset_broker_state(self) -> None:
        """What belongs to one process: made anew in a forked child."""
        self._is_started = False
        self._shut_down = False
        self._workers_running = False
        self._ledger: Ledger | None = None
        self._local = LocalLedger(self.results)  # eager tasks' and the in-memory broker's
        self._producer = uuid.uuid4().hex  # this engine instance, as join() counts its tasks
        self._accepted_count = 0

    # -- what a backend implements ------------------------------------------------------

    @classmethod
    @abstractmethod
    def check_broker_url(cls, url: str) -> bool:
        """Refuse a URL this backend cannot use (ValueError); True: a broker in this process only."""

    @abstractmethod
    def _connect(self) -> Ledger:
        """Make the broker client (once, at the first task: never at configuration time)."""

    @abstractmethod
    def _send(
        self, message: TaskMessage, fn: Callable[..., object], options: TaskOptions, delay: float, priority: int
    ) -> None:
        """Hand one message to the broker; raise if it did not take it."""

    @abstractmethod
    def _disconnect(self, close: bool) -> None:
        """Drop the broker client; ``close`` is False in a forked child (the sockets are the parent's)."""

    def _start_workers(self) -> None:
        """An in-process broker only: start worker threads here."""
        raise NotImplementedError

    def _stop_workers(self, timeout: float | None) -> None:
        """An in-process broker only: stop the worker threads once the running tasks end."""
        raise NotImplementedError

    def _worker_threads(self) -> int:
        return 0

    @classmethod
    @abstractmethod
    def serve(cls, options: WorkerOptions) -> int:
        """Run worker processes until SIGTERM or SIGINT (``tasq worker``); the exit status."""

    # -- configuration ------------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self._is_started

    def add_hooks(self, hooks: Hooks) -> None:
        """Add lifecycle hooks; in a worker process they fire around every task it runs."""
        if self._is_started:
            raise RuntimeError("hooks can only be set before the engine starts")
        super().add_hooks(hooks)  # checks it; the thread engine's list stays unused
        self.executor.set_hooks([*self.executor.hook_objects, hooks])

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
        self._local.wait_until(lambda live: not waited.intersection(live), _remaining(deadline))
        self._stop_workers(_remaining(deadline))
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
            self.executor.abandon_running(f"{reason} while it ran")
            lifecycle.forget(self)

    def close_at_exit(self) -> None:
        """Interpreter exit: ``shutdown()`` within ``shutdown_timeout``."""
        self.shutdown("the interpreter exited")

    def after_fork_in_child(self) -> None:
        """A forked child starts empty: what was sent belongs to the broker, not to it."""
        was_started = self._is_started and not self._closed
        super().after_fork_in_child()
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
        priority: int = 0,
        timeout: float | None = None,
    ) -> int:
        """Send a ``@background`` call (``fn.task(*args)``) to the workers; return its id."""
        fn, args, kwargs, options = resolve_call(task)
        return self._accept(fn, args, kwargs, options, delay, priority, timeout)

    def enqueue_call(
        self, fn: Callable[..., object], args: tuple[Any, ...], kwargs: dict[str, Any], options: TaskOptions
    ) -> int:
        """What ``@background``'s ``enqueue`` sends: the call, its arguments and its options."""
        return self._accept(fn, args, kwargs, options, None, 0, None)

    def submit(self, fn: Callable[P, object], /, *args: P.args, **kwargs: P.kwargs) -> int:
        """``enqueue`` for a ``@background`` function and its arguments."""
        function, args_, kwargs_, options = resolve_submit(fn, args, kwargs)
        return self._accept(function, args_, kwargs_, options, None, 0, None)

    async def aenqueue(
        self,
        task: object,
        *,
        delay: float | timedelta | datetime | None = None,
        priority: int = 0,
        timeout: float | None = None,
    ) -> int:
        """``enqueue`` for async code: the broker round trip runs off the event loop."""
        if self._eager or self.local_worker:
            return self.enqueue(task, delay=delay, priority=priority, timeout=timeout)
        return await asyncio.to_thread(self.enqueue, task, delay=delay, priority=priority, timeout=timeout)

    def _accept(
        self,
        fn: Callable[..., object],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        options: TaskOptions,
        delay: float | timedelta | datetime | None,
        priority: int,
        timeout: float | None,
    ) -> int:
        if self._closed:
            raise TasQClosed(f"engine {self.name!r} is closed")
        name = task_name(fn, options)
        check_json(name, args, kwargs)
        seconds, priority = check_schedule(delay, priority, options)
        if timeout is not None:
            check_seconds("timeout", timeout)  # the broker never blocks a producer: nothing to bound
        if self._eager:
            return self._run_inline(name, fn, args, kwargs, options)
        if not self._is_started and self.autostart:
            self.start()
        elif self.local_worker and self._is_started and not self._workers_running:
            self.start()  # it was started while eager
        ledger = self._connected()
        task_id = ledger.accept(self.name, self._producer)
        message = self._message(task_id, name, list(args), kwargs, options, self._headers(task_id, name))
        if self.local_worker and seconds > 0:
            self.executor.not_before[message.id] = time.monotonic() + seconds
        try:
            self._send(message, fn, options, seconds, priority)
        except BaseException:
            self._forget(ledger, message)
            raise
        with self._guard:
            self._accepted_count += 1
        for hook in self.executor.hooks["after_enqueue"]:
            call_hook(hook, message.id)
        if self.closed and self.local_worker and not self._workers_running:
            self._cancel_left()  # it raced close(): no worker here will run it
        return message.id

    def _headers(self, task_id: int, name: str) -> dict[str, str]:
        """What the before_enqueue hooks add to the message: nothing without such hooks."""
        headers: dict[str, str] = {}
        for hook in self.executor.hooks["before_enqueue"]:
            call_hook(hook, task_id, name, headers)
        return checked_headers(task_id, headers) if headers else headers

    def _message(
        self,
        task_id: int,
        name: str,
        args: list[Any],
        kwargs: dict[str, Any],
        options: TaskOptions,
        headers: dict[str, str] | None = None,
    ) -> TaskMessage:
        retry_delay = self.retry_delay if options.retry_delay is None else options.retry_delay
        return TaskMessage(
            id=task_id,
            name=name,
            args=args,
            kwargs=kwargs,
            engine=self.name,
            max_retry=self.max_retry if options.max_retry is None else options.max_retry,
            retry_delay=None if callable(retry_delay) else float(retry_delay),
            results=self.results,
            producer=self._producer,
            headers={} if headers is None else headers,
        )

    def _forget(self, ledger: Ledger, message: TaskMessage) -> None:
        self.executor.not_before.pop(message.id, None)
        try:
            ledger.discard(message)
        except Exception:
            logger.exception("could not forget task %d after the broker refused it", message.id)

    def _run_inline(
        self,
        name: str,
        fn: Callable[..., object],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        options: TaskOptions,
    ) -> int:
        # Through JSON, as a worker would receive them: a test sees what production will.
        sent_args, sent_kwargs = json.loads(json.dumps([list(args), kwargs]))
        ledger = self._local
        task_id = ledger.accept(self.name, self._producer)
        message = self._message(task_id, name, sent_args, sent_kwargs, options, self._headers(task_id, name))
        with self._guard:
            self._accepted_count += 1
        for hook in self.executor.hooks["after_enqueue"]:
            call_hook(hook, message.id)
        executor = self.executor
        while True:  # retries run at once: eager mode skips delays
            attempt = executor.begin(ledger, message, options)
            if attempt is None:
                break
            error: BaseException | None = None
            try:
                executor.run(attempt, fn, message.args, message.kwargs)
            except BaseException as raised:  # noqa: BLE001 - a task's exception is its outcome
                error = raised
            if executor.settle(attempt, error) is None:
                if attempt.failure is not None and self.eager_propagate:
                    raise attempt.failure
                break
            message = replace(message, attempt=message.attempt + 1)
        return message.id

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

    # -- waiting and looking ------------------------------------------------------------

    def join(self, timeout: float | None = None) -> bool:
        """Wait until every task this engine sent has finished, in whichever worker; True if so.

        It asks the ledger: exact with Redis and with an in-process broker. A broker with no
        store beside it (RabbitMQ) cannot tell: then it returns False at once if this engine
        sent anything. Once closed, an engine whose workers run elsewhere holds nothing: its
        tasks belong to the broker, and join() returns True at once (a web process that
        drains its engine at exit does not wait for the workers).
        """
        if timeout is not None:
            timeout = check_seconds("timeout", timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._closed and not self.local_worker:
            return True
        ledger = self._ledger
        if ledger is None or ledger is self._local:
            return self._local.wait_until(lambda live: not live, timeout)
        pause = 0.005
        while True:
            outstanding = ledger.outstanding(self.name, self._producer)
            if outstanding is None:
                return self._accepted_count == 0
            if outstanding <= 0:
                return True
            remaining = _remaining(deadline)
            if remaining is not None and remaining <= 0:
                return False
            time.sleep(pause if remaining is None else min(pause, remaining))
            pause = min(pause * 2, 0.2)

    def running_ids(self) -> list[int]:
        """The ids of this engine's tasks running in this process."""
        return sorted(self.executor.running)

    def stats(self) -> Stats:
        """This process's view: what it enqueued, ran and reported; ``pending`` from the ledger."""
        done, failed, retried, cancelled = self.executor.counts
        running = len(self.executor.running)
        ledger = self._ledger if self._ledger is not None else self._local
        outstanding = 0
        if not (self._closed and not self.local_worker):  # closed, it holds nothing: no I/O
            try:
                outstanding = ledger.outstanding(self.name, self._producer) or 0
            except Exception:  # noqa: BLE001 - stats() must answer even when the broker does not
                outstanding = 0
        return Stats(
            enqueued=self._accepted_count,
            pending=max(0, outstanding - running),
            running=running,
            done=done,
            failed=failed,
            retried=retried,
            cancelled=cancelled,
            workers=self._worker_threads(),
        )

    def result(self, task_id: int) -> TaskResult | None:
        """What the ledger knows of a task when ``results`` keeps it (Redis: from any process)."""
        if not self.results:
            return None
        found = self._local.result(self.name, task_id)
        if found is None and not self.local_worker:
            found = self._connected().result(self.name, task_id)
        return found

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


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())
