"""The worker's side of a distributed engine: one attempt, its hooks, its one outcome.

Whatever runs the attempt (a Dramatiq middleware, later a Celery signal handler) calls
``begin``, ``run`` and ``settle``; this module does what the thread engine does around a
task: ``before_task`` and ``around_task`` hooks, ``RetryTask`` against ``max_retry``, then
exactly one of done / failed through the ledger, the hooks, the callback and the log.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from contextvars import Token
from dataclasses import replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ..context import use_engine
from ..exceptions import RetryTask, TaskCancelled
from ..hooks import (
    CANCELLED,
    DONE,
    FAILED,
    RETRIED,
    HookLists,
    Hooks,
    RunningTask,
    _running,
    call_guarded,
    callback_raised,
    log_cancelled,
    log_failed,
    log_retry,
)
from ..retry import next_attempt
from ..task import RetryDelay, TaskOptions, TaskStatus
from ..thread.time_limit import Watchdog, limited
from .ledger import CANCELLED as MARKED_CANCELLED
from .ledger import RUN, Ledger
from .payload import TaskMessage

if TYPE_CHECKING:
    from ..engine import TasQ

__all__ = ["Attempt", "Executor", "call_hook"]

logger = logging.getLogger("tasq")

# A hook's call, guarded: what it raises is logged and never ends a worker.
call_hook = call_guarded


class Attempt:
    """One attempt of one task, from ``begin`` to ``settle``."""

    __slots__ = ("failure", "ledger", "message", "options", "token", "value")

    def __init__(self, ledger: Ledger, message: TaskMessage, options: TaskOptions | None) -> None:
        self.ledger = ledger
        self.message = message
        self.options = options
        self.value: object = None
        self.failure: BaseException | None = None  # the error it was reported failed with
        self.token: Token[Any] | None = None  # current_task() from begin to settle, with hooks


class Executor:
    """Runs and reports the tasks of one engine in this process."""

    def __init__(self, engine: TasQ) -> None:
        self.engine = engine
        # A broker in this process (or a store): retries not due yet are kept here, see below.
        self.local_worker: bool = getattr(engine, "local_worker", False)
        self.hook_objects: list[Hooks] = []
        self.hooks = HookLists([])  # the same lists the thread engine calls
        self.counts = [0, 0, 0, 0]
        self.running: dict[int, Attempt] = {}
        # Only for workers in the engine's own process (an in-memory broker): when each task
        # not due yet falls due, so that close() waits for due tasks and cancels the rest.
        self.not_before: dict[int, float] = {}
        self.cancel_pending = False  # the engine's close(cancel_pending=True) runs nothing more
        self.closing = False  # a retry that is not due yet is cancelled, as in the thread engine
        self._lock = threading.Lock()
        self._watchdog: Watchdog | None = None

    def watchdog(self) -> Watchdog:
        """The time limits' thread of this engine's workers here, made with the first limit."""
        if self._watchdog is None:
            with self._lock:
                if self._watchdog is None:
                    self._watchdog = Watchdog(f"tasq-{self.engine.name}-time-limit")
        return self._watchdog

    def stop_watchdog(self) -> None:
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:
            watchdog.stop()

    def set_hooks(self, hooks: list[Hooks]) -> None:
        self.hook_objects = hooks
        self.hooks = HookLists(hooks)

    def fresh(self) -> Executor:
        """The executor of a forked child: the same hooks, nothing counted or running."""
        executor = Executor(self.engine)
        executor.set_hooks(self.hook_objects)
        return executor

    # -- one attempt --------------------------------------------------------------------

    def begin(self, ledger: Ledger, message: TaskMessage, options: TaskOptions | None) -> Attempt | None:
        """The attempt to run, or None: it already finished (a redelivery) or was cancelled."""
        if self.cancel_pending:
            self.fail(ledger, message, TaskCancelled(f"engine {self.engine.name!r} closed before it ran"))
            return None
        try:
            first_delivery = ledger.started(message)
        except Exception:
            # The store is unreachable: run the task (its outcome is reported all the same)
            # rather than drop it or hold the worker.
            logger.exception("could not record the start of task %d", message.id, extra={"task_id": message.id})
            first_delivery = RUN
        if first_delivery == MARKED_CANCELLED:
            self.fail(ledger, message, TaskCancelled(f"task {message.id} was cancelled"))
            return None
        if not first_delivery:
            logger.warning(
                "task %d was delivered again after it finished; skipped", message.id, extra={"task_id": message.id}
            )
            return None
        attempt = Attempt(ledger, message, options)
        with self._lock:
            self.not_before.pop(message.id, None)
            self.running[message.id] = attempt
        if self.hook_objects:
            attempt.token = _running.set((_running_task, message))
        for hook in self.hooks.before_task:
            call_hook(hook, message.id, message.attempt)
        return attempt

    def run(self, attempt: Attempt, fn: Callable[..., object], args: Any, kwargs: Any) -> None:
        """Call the task inside the engine's ``around_task`` hooks; its error propagates."""
        task_id = attempt.message.id
        call: Callable[[], object] = functools.partial(fn, *args, **kwargs)
        options = attempt.options
        seconds = self.engine.time_limit if options is None or options.time_limit is None else options.time_limit
        if seconds is not None:
            call = limited(call, seconds, self.watchdog())
        for wrap in reversed(self.hooks.around_task):
            call = functools.partial(wrap, task_id, call)
        with use_engine(self.engine):  # tasks that enqueue more tasks send them through this engine
            value = call()
            if inspect.isawaitable(value):
                awaitable: Awaitable[object] = value
                for wrap_coroutine in self.hooks.around_coroutine:
                    awaitable = wrap_coroutine(task_id, awaitable)
                value = asyncio.run(_awaited(awaitable))
        attempt.value = value

    def settle(self, attempt: Attempt, error: BaseException | None) -> float | None:
        """Report the outcome, or the seconds until the next attempt when it retries."""
        if attempt.token is None:
            return self._settle(attempt, error)
        try:
            return self._settle(attempt, error)
        finally:
            try:
                _running.reset(attempt.token)
            except (ValueError, RuntimeError):  # settled in another context than it began in
                _running.set(None)
            attempt.token = None

    def _settle(self, attempt: Attempt, error: BaseException | None) -> float | None:
        message = attempt.message
        with self._lock:
            self.running.pop(message.id, None)
        if error is None:
            self.done(attempt.ledger, message, attempt.value)
            return None
        failure: BaseException = error
        if isinstance(error, RetryTask):
            refused, delay = self._next_attempt(attempt, error)
            if refused is None:
                self._retrying(attempt, error, delay)
                return delay
            failure = refused
        attempt.failure = failure
        self.fail(attempt.ledger, message, failure)
        return None

    def _next_attempt(self, attempt: Attempt, error: RetryTask) -> tuple[BaseException | None, float]:
        """(None, delay) when another attempt follows, else (the error the task fails with, 0)."""
        message = attempt.message
        failure, delay = next_attempt(message.id, message.attempt, message.max_retry, error, self._retry_delay(attempt))
        if failure is None and self.closing and delay > 0:
            return TaskCancelled(f"engine {self.engine.name!r} closed before it ran"), 0.0
        return failure, delay

    def _retrying(self, attempt: Attempt, error: RetryTask, delay: float) -> None:
        message = attempt.message
        if self.local_worker and delay > 0:
            with self._lock:
                self.not_before[message.id] = time.monotonic() + delay
        attempt.ledger.retrying(message)
        self._count(RETRIED)
        log_retry(self.engine.name, message.id, message.attempt, message.max_retry, delay, error)
        for hook in self.hooks.after_retry:
            call_hook(hook, message.id, error)

    def _retry_delay(self, attempt: Attempt) -> RetryDelay:
        """The message's own, else the task's, else the engine's ``retry_delay``."""
        if attempt.message.retry_delay is not None:
            return attempt.message.retry_delay
        options = attempt.options
        return self.engine.retry_delay if options is None or options.retry_delay is None else options.retry_delay

    def run_here(
        self, ledger: Ledger, message: TaskMessage, fn: Callable[..., object], options: TaskOptions, propagate: bool
    ) -> None:
        """Every attempt of one task, in this thread and at once (eager mode skips delays);
        with ``propagate`` the error it failed with is raised again once it was reported."""
        while True:
            attempt = self.begin(ledger, message, options)
            if attempt is None:
                return
            error: BaseException | None = None
            try:
                self.run(attempt, fn, message.args, message.kwargs)
            except BaseException as raised:  # noqa: BLE001 - a task's exception is its outcome
                error = raised
            if self.settle(attempt, error) is None:
                if attempt.failure is not None and propagate:
                    raise attempt.failure
                return
            message = replace(message, attempt=message.attempt + 1)

    # -- outcomes -----------------------------------------------------------------------

    def done(self, ledger: Ledger, message: TaskMessage, value: object) -> None:
        if not _recorded(ledger, message, TaskStatus.DONE, value, None):
            return
        for hook in self.hooks.after_done:
            call_hook(hook, message.id, value)
        on_done = self.engine.on_done
        if on_done is not None:
            try:
                on_done(message.id)
            except BaseException as error:  # noqa: BLE001 - a callback never ends a worker
                callback_raised(self.engine.name, "on_done", message.id, error)
        self._count(DONE)

    def fail(self, ledger: Ledger, message: TaskMessage, error: BaseException) -> None:
        with self._lock:
            self.running.pop(message.id, None)
            self.not_before.pop(message.id, None)
        if not _recorded(ledger, message, TaskStatus.FAILED, None, error):
            return
        for hook in self.hooks.after_failed:
            call_hook(hook, message.id, error)
        on_failed = self.engine.on_failed
        if on_failed is not None:
            try:
                on_failed(message.id, error)
            except BaseException as callback_error:  # noqa: BLE001 - a callback never ends a worker
                callback_raised(self.engine.name, "on_failed", message.id, callback_error)
        if isinstance(error, TaskCancelled):
            log_cancelled(self.engine.name, message.id, error)
            self._count(CANCELLED)
        else:
            log_failed(self.engine.name, message.id, message.name, error)
        self._count(FAILED)

    def _count(self, slot: int) -> None:
        with self._lock:
            self.counts[slot] += 1

    def abandon_running(self, why: str) -> None:
        """Report what still runs as cancelled (at exit); if it ends after all, the ledger
        has its outcome already and nothing is reported twice."""
        with self._lock:
            attempts = list(self.running.values())
        for attempt in attempts:
            self.fail(attempt.ledger, attempt.message, TaskCancelled(why))

    # -- worker threads -----------------------------------------------------------------

    def thread_started(self) -> None:
        for hook in self.hooks.worker_started:
            call_hook(hook)

    def thread_stopped(self) -> None:
        for hook in self.hooks.worker_stopped:
            call_hook(hook)


def _running_task(message: TaskMessage) -> RunningTask:
    return RunningTask(message.id, message.name, message.attempt, MappingProxyType(message.headers))


def _recorded(
    ledger: Ledger, message: TaskMessage, status: TaskStatus, value: object, error: BaseException | None
) -> bool:
    try:
        return ledger.finished(message, status, value, error)
    except Exception:
        # The store is unreachable: report anyway. A redelivery could then be reported
        # again, but an outcome nobody hears of is worse.
        logger.exception("could not record the outcome of task %d", message.id, extra={"task_id": message.id})
        return True


async def _awaited(awaitable: Awaitable[object]) -> object:
    return await awaitable
