"""Starting an app's engine in each process that serves the app, and never before a fork.

An integration's engine starts at app startup, not at its first task, so that what runs
beside it (its periodic tasks) runs in an idle app too. Where that is depends on the server:

- in a gunicorn worker that loads the app itself, as the app loads;
- under ``gunicorn --preload`` the app loads in the master, which then forks its workers:
  the master starts nothing (threads do not survive ``fork()``, and a master that ran tasks
  would run them beside its workers); each worker starts the engine as it is forked;
- anywhere else the integration decides (Django's ``runserver`` child), or the app calls
  ``engine.start()`` once it serves.

gunicorn is found as ``tasq.worker_exit`` finds it, with no gunicorn configuration.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from types import FrameType

from .worker_exit import gunicorn_worker

__all__ = ["preloading", "start_when_serving"]

logger = logging.getLogger("tasq")

# What to start in each child a preloading gunicorn master forks (its workers).
_in_each_child: list[Callable[[], object]] = []


def start_when_serving(start: Callable[[], object]) -> bool:
    """Call ``start()`` now in a gunicorn worker, or in each worker a preloading gunicorn
    master forks; True if it will run. Elsewhere it is not called (the app starts its engine)."""
    if gunicorn_worker() is not None:
        _guarded(start)
        return True
    if preloading():
        _in_each_child.append(start)
        return True
    return False


def preloading() -> bool:
    """True while a gunicorn master loads the app before it forks its workers (``--preload``)."""
    if "gunicorn.arbiter" not in sys.modules:
        return False
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_globals.get("__name__") == "gunicorn.arbiter":
            return True
        frame = frame.f_back
    return False


def _guarded(start: Callable[[], object]) -> None:
    try:
        start()
    except Exception:  # a closed engine, a broker not reachable: the app still serves
        logger.exception("could not start an engine as the app started", extra={"task_id": None})


def _after_fork_in_child() -> None:
    # Registered after tasq.lifecycle's handler, so the engines are reset for this process
    # before they start in it. The child is a worker: it forks no workers of its own.
    starts = list(_in_each_child)
    _in_each_child.clear()
    for start in starts:
        _guarded(start)


os.register_at_fork(after_in_child=_after_fork_in_child)
