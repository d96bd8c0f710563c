"""The end of a thread engine's life: ``close``, ``shutdown``, and a forked child's new start.

``close`` stops accepting, cancels what is not due yet (and, asked to or past its deadline,
what has not started), sends each worker its stop signal and waits. ``shutdown`` is
``close`` within a bound, then every task still running is reported given up, so that
afterwards every accepted id has been reported. A task or callback closing its own engine
never waits for itself. In a forked child the engine starts again empty, its ids going on
from the parent's.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from typing import TYPE_CHECKING

from .. import lifecycle
from ..checks import check_seconds, remaining
from ..hooks import given_up
from .backpressure import wake_async_space_waiters
from .interrupts import signals_held
from .outcomes import abandon_running, cancel_all, cancel_queued

if TYPE_CHECKING:
    from .engine import ThreadEngine

__all__ = ["CLOSED", "NEW", "STARTED", "Closing"]

NEW, STARTED, CLOSED = range(3)  # ThreadEngine._state

logger = logging.getLogger("tasq")


class Closing:
    """The thread engine's ``close``, ``shutdown`` and what a forked child does."""

    __slots__ = ()

    def close(  # type: ignore[misc]
        self: ThreadEngine, wait: bool = True, timeout: float | None = None, cancel_pending: bool = False
    ) -> list[int]:
        """Stop accepting tasks; run what is pending (or cancel it); wait for running tasks.

        Tasks not due yet (delays, retries) are cancelled. With ``timeout``, tasks that have
        not started by then are cancelled too. Returns the ids still running on return.
        """
        if timeout is not None:
            timeout = check_seconds("timeout", timeout)
        me = threading.get_ident()
        if me in self._reentered:
            # close() from inside close() (an on_failed of a task it cancels) or from an
            # after_enqueue hook (its task is counted, not yet queued): it cannot wait for itself.
            return _close(self, wait=False, timeout=timeout, cancel_pending=cancel_pending)
        try:
            self._reentered.add(me)
            return _close(self, wait, timeout, cancel_pending)
        finally:
            self._reentered.discard(me)

    def shutdown(  # type: ignore[misc]
        self: ThreadEngine, reason: str = "the app shut down", *, timeout: float | None = None
    ) -> None:
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
            _give_up(self, reason)

    def _after_fork_in_child(self: ThreadEngine) -> None:  # type: ignore[misc]
        _start_again_in_child(self)


def _close(engine: ThreadEngine, wait: bool, timeout: float | None, cancel_pending: bool) -> list[int]:
    deadline = None if timeout is None else time.monotonic() + timeout
    with signals_held():  # closed, what was not due reported, each worker told to stop: all of it
        with engine._lock:
            first_close = not engine._closed
            engine._closed = True
            engine._put_only = engine._straight_in = False
            engine._put_recording = None
            was_started = engine._state == STARTED
            engine._state = CLOSED
        engine._space.wake_all()
        if first_close:
            lifecycle.engine_closing(engine)  # periodic schedules stop before the queue drains
            wake_async_space_waiters(engine)
            cancel_all(engine, engine._scheduler.stop(), "that were not due yet")
            if cancel_pending or not was_started:
                cancel_queued(engine)
            for _ in engine._threads:
                engine._ready.put(None)
        elif cancel_pending:
            cancel_queued(engine)
    if threading.current_thread() in engine._threads or engine._loop.is_current():
        wait = False  # a task (or its callback) that closes its own engine cannot wait for itself
    if not wait:
        return engine.running_ids()
    if engine._threads and not engine._workers_gone.wait(remaining(deadline)):
        with signals_held():
            cancel_queued(engine)
    engine.join(remaining(deadline))
    still_running = engine.running_ids()
    if still_running:
        shown = ", ".join(map(str, still_running[:20])) + (", ..." if len(still_running) > 20 else "")
        logger.warning(
            "engine %r closed with %d task(s) still running: %s",
            engine.name,
            len(still_running),
            shown,
            extra={"task_id": None, "task_ids": still_running, "engine": engine.name},
        )
    elif engine._outstanding() <= 0:
        engine._loop.stop()
        engine._watchdog.stop()
        lifecycle.forget(engine)
    return still_running


def _give_up(engine: ThreadEngine, reason: str) -> None:
    with signals_held():
        if not engine._closed:  # close() was cut short before it began: begin it here
            _close(engine, wait=False, timeout=None, cancel_pending=True)
        cancel_all(engine, engine._scheduler.stop(), "that were not due yet")
        cancel_queued(engine)
        abandon_running(engine, given_up(reason))
    engine._watchdog.stop()
    lifecycle.forget(engine)


def _start_again_in_child(engine: ThreadEngine) -> None:
    was_started = engine._state == STARTED
    next_id = next(engine._ids)
    engine._ids = itertools.count(next_id)
    if was_started and not engine._closed:
        # Threads do not survive fork(): the child's workers start with its first task.
        engine._state = NEW
        engine.autostart = True
    engine._reset_runtime(first_id=next_id)
