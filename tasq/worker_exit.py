"""Drain engines at a gunicorn worker's exit within gunicorn's own deadlines, with no gunicorn config.

A gunicorn worker leaves its loop on SIGTERM and ends with ``sys.exit(0)``, so ``atexit``
handlers run, and the engine's own one drains it within ``shutdown_timeout`` (25 s). That is
not enough in two cases, both of which lose tasks silently:

- the master SIGKILLs a worker ``graceful_timeout`` seconds after its SIGTERM (and SIGABRTs
  one that skipped its heartbeat for ``timeout`` seconds on a restart): with
  ``--graceful-timeout 10``, a 25 s drain is killed half-way and nothing reports the rest;
- a second signal (SIGQUIT from the master's quick shutdown, a second Ctrl-C) raises
  ``SystemExit`` inside the drain: running tasks are reported, pending ones are not.

So in a gunicorn worker this handler, which runs before the engine's own one, waits at most
what gunicorn allows and turns a second signal into "cancel the rest now", which the
engine's handler then reports, task by task.
"""

from __future__ import annotations

import atexit
import signal
import sys
import threading
import time
import weakref
from typing import Any

from .engine import TasQ

__all__ = ["drain_at_worker_exit", "gunicorn_worker", "shutdown_budget"]

_engines: weakref.WeakSet[TasQ] = weakref.WeakSet()
_POLL = 0.05  # seconds between checks for a second signal while draining


def drain_at_worker_exit(engine: TasQ) -> None:
    """Drain ``engine`` within gunicorn's deadlines when this process exits as a gunicorn worker."""
    _engines.add(engine)


def shutdown_budget(graceful_timeout: float, timeout: float) -> float:
    """Seconds a worker may drain: what gunicorn allows, less a margin for the worker's own exit."""
    limit = min(graceful_timeout, timeout) if timeout else graceful_timeout
    return max(0.0, limit - max(1.0, 0.1 * limit))


def gunicorn_worker() -> Any:
    """The gunicorn worker this process is, or None."""
    # A gunicorn worker's SIGTERM handler is a bound method of the worker: the one place
    # that names it, readable from any thread and without any gunicorn configuration.
    base = sys.modules.get("gunicorn.workers.base")
    owner = getattr(signal.getsignal(signal.SIGTERM), "__self__", None)
    return owner if base is not None and isinstance(owner, base.Worker) else None


def _drain() -> None:
    worker = gunicorn_worker()
    # Only in-process pools: a scale-out engine's tasks already belong to its broker.
    engines = [
        engine for engine in list(_engines) if engine.runs_tasks_in_process and engine.started and not engine.closed
    ]
    if worker is None or not engines or threading.current_thread() is not threading.main_thread():
        return  # the engine's own atexit handler does the whole job
    budget = shutdown_budget(float(worker.cfg.graceful_timeout), float(worker.cfg.timeout or 0))
    hurry = threading.Event()
    for signum in (signal.SIGINT, signal.SIGQUIT, signal.SIGABRT):
        signal.signal(signum, lambda *_: hurry.set())
    started = time.monotonic()
    for engine in engines:
        engine.close(wait=False)  # accept nothing more; what is pending still runs
    for engine in engines:
        timeout = budget if engine.shutdown_timeout is None else min(budget, engine.shutdown_timeout)
        deadline = started + timeout
        while not hurry.is_set() and time.monotonic() < deadline:
            if engine._settle_before_exit(min(_POLL, max(0.0, deadline - time.monotonic()))):
                break
        # What is left is cancelled now, each task reported; the engine's own exit handler
        # then finds it shut down already.
        engine.shutdown("the interpreter exited", timeout=0.0)


# Registered after tasq.lifecycle's handler, so it runs before it (atexit is last in, first out).
atexit.register(_drain)
