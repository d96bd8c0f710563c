"""The Django engine's hooks: connection hygiene in its worker threads, signals, DEBUG logs."""

from __future__ import annotations

import logging
import os
import secrets
import threading
import weakref
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, Protocol, TypeVar

from django.dispatch import Signal

from tasq import Hooks, RetryTask, TasQ

from . import db, signals

__all__ = ["DjangoHooks", "Tracked", "tracking"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Tracked(Protocol):
    """A task whose outcome is also recorded elsewhere: a Django Tasks ``TaskResult``."""

    def enqueued(self, task_id: int, result_id: str) -> None: ...
    def retried(self, error: RetryTask) -> None: ...
    def done(self, return_value: object) -> None: ...
    def failed(self, error: BaseException) -> None: ...


# Set by the Django Tasks backend around engine.enqueue(): after_enqueue runs in that same
# thread (or asyncio task) before any worker can see the task, so it binds the right id.
tracking: ContextVar[Tracked | None] = ContextVar("tasq_django_tracking", default=None)

_worker = threading.local()  # .active: this thread is a worker of a Django engine
_instances: weakref.WeakSet[DjangoHooks] = weakref.WeakSet()


class DjangoHooks(Hooks):
    def __init__(self, engine: TasQ) -> None:
        self.engine = engine
        self.tracked: dict[int, Tracked] = {}
        # Result ids are "<prefix><task id>": unique per engine and per process (see fork).
        self.prefix = _new_prefix()
        _instances.add(self)

    def after_enqueue(self, task_id: int) -> None:
        run = tracking.get()
        if run is not None:
            tracking.set(None)  # a task enqueued by this one (eager mode) is not this one
            self.tracked[task_id] = run
            run.enqueued(task_id, f"{self.prefix}{task_id}")
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("task %d enqueued", task_id, extra={"task_id": task_id})
        if signals.task_enqueued.receivers:  # checked here: a call less per task with no receiver
            _send(signals.task_enqueued, self.engine, task_id)

    def around_task(self, task_id: int, call: Callable[[], T]) -> T:
        if not getattr(_worker, "active", False):
            # Eager mode, or a retry run at close: the caller's thread, whose connections
            # (and open transaction) belong to the caller.
            self._started(task_id)
            return call()
        try:
            db.before_task()
        except Exception:  # noqa: BLE001 - a broken connection must not fail the task or the worker
            _hygiene_failed(task_id)
        try:
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("task %d started", task_id, extra={"task_id": task_id})
            if signals.task_started.receivers:
                _send(signals.task_started, self.engine, task_id)
            return call()
        finally:
            try:
                db.after_task(task_id)
            except Exception:  # noqa: BLE001 - a broken connection must not fail the task or the worker
                _hygiene_failed(task_id)

    def around_coroutine(self, task_id: int, coro: Awaitable[T]) -> Awaitable[T]:
        return db.after_coroutine(coro) if getattr(_worker, "active", False) else coro

    def after_retry(self, task_id: int, error: RetryTask) -> None:
        run = self.tracked.get(task_id)
        if run is not None:
            run.retried(error)
        if signals.task_retried.receivers:
            _send(signals.task_retried, self.engine, task_id, error=error)

    def after_done(self, task_id: int, return_value: object) -> None:
        run = self.tracked.pop(task_id, None)
        if run is not None:
            run.done(return_value)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("task %d done", task_id, extra={"task_id": task_id})
        if signals.task_done.receivers:
            _send(signals.task_done, self.engine, task_id)

    def after_failed(self, task_id: int, error: BaseException) -> None:
        # The engine logs failures (ERROR, with the traceback) and cancellations itself.
        run = self.tracked.pop(task_id, None)
        if run is not None:
            run.failed(error)
        if signals.task_failed.receivers:
            _send(signals.task_failed, self.engine, task_id, error=error)

    def worker_started(self) -> None:
        _worker.active = True

    def worker_stopped(self) -> None:
        _worker.active = False
        try:
            db.close_thread_connections()
        except Exception:  # noqa: BLE001 - a broken connection must not fail the task or the worker
            _hygiene_failed(None)

    def _started(self, task_id: int) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("task %d started", task_id, extra={"task_id": task_id})
        if signals.task_started.receivers:
            _send(signals.task_started, self.engine, task_id)


def _send(signal: Signal, engine: TasQ, task_id: int, **named: Any) -> None:
    """Send ``signal`` to its receivers (the callers check that it has any)."""
    # send_robust: a broken receiver is its own bug; it must not fail the task it watches.
    for receiver, response in signal.send_robust(engine, task_id=task_id, **named):
        if isinstance(response, Exception):
            logger.error(
                "signal receiver %r raised for task %d",
                receiver,
                task_id,
                exc_info=response,
                extra={"task_id": task_id},
            )


def _hygiene_failed(task_id: int | None) -> None:
    logger.exception("closing database connections failed for task %s", task_id, extra={"task_id": task_id})


def _new_prefix() -> str:
    return secrets.token_hex(6) + "-"


def _after_fork_in_child() -> None:
    # What was pending belongs to the parent; the child's ids must not repeat the parent's.
    for hooks in list(_instances):
        hooks.tracked.clear()
        hooks.prefix = _new_prefix()


os.register_at_fork(after_in_child=_after_fork_in_child)
