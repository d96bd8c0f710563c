from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .engine import TasQ

__all__ = [
    "add_listener",
    "eager_forced",
    "engine_closing",
    "engine_started",
    "exiting",
    "forget",
    "open_engines",
    "pop_eager",
    "push_eager",
    "track",
]

logger = logging.getLogger(__name__)

# Strong references: an engine that holds tasks must live until it has reported them,
# even when the program dropped its last reference to it.
_open: dict[int, TasQ] = {}
_lock = threading.Lock()
_exiting = False
_eager_stack: list[bool] = []  # tasq.testing.eager() blocks: each one's propagate flag
# What runs beside an engine (the periodic ticker) starts and stops with it: (started, closing).
_listeners: list[tuple[Callable[[TasQ], object], Callable[[TasQ], object]]] = []


def track(engine: TasQ) -> None:
    with _lock:
        _open[id(engine)] = engine


def forget(engine: TasQ) -> None:
    with _lock:
        _open.pop(id(engine), None)


def add_listener(*, started: Callable[[TasQ], object], closing: Callable[[TasQ], object]) -> None:
    """Call ``started(engine)`` after an engine starts and ``closing(engine)`` as it closes."""
    _listeners.append((started, closing))


def engine_started(engine: TasQ) -> None:
    """Every engine calls this at the end of ``start()``; again is harmless."""
    _notify(engine, 0)


def engine_closing(engine: TasQ) -> None:
    """Every engine calls this once in ``close()``, once it refuses new tasks."""
    _notify(engine, 1)


def _notify(engine: TasQ, which: int) -> None:
    for listener in list(_listeners):
        try:
            listener[which](engine)
        except Exception:  # a listener's bug must not break an engine's start or close
            logger.exception("a lifecycle listener failed for engine %r", engine.name, extra={"task_id": None})


def exiting() -> bool:
    return _exiting


def open_engines() -> list[TasQ]:
    with _lock:
        return list(_open.values())


def push_eager(propagate: bool) -> None:
    _eager_stack.append(propagate)


def pop_eager() -> None:
    _eager_stack.pop()


def eager_forced() -> tuple[bool, bool]:
    """(eager, propagate) for an engine made now: inside ``tasq.testing.eager()`` or not."""
    return (True, _eager_stack[-1]) if _eager_stack else (False, False)


def _close_all_at_exit() -> None:
    global _exiting
    _exiting = True
    with _lock:
        engines = list(_open.values())
    for engine in engines:
        engine._close_at_exit()


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # another thread may have held it at fork()
    for engine in list(_open.values()):
        engine._after_fork_in_child()


class _MultiprocessingChild:
    """A ``multiprocessing`` child started by fork (or forkserver) ends with ``os._exit()``,
    which runs no ``atexit``: its exit drain runs as one of multiprocessing's own exit
    finalizers instead, registered anew in each child (the child clears the inherited ones)."""

    def after_fork(self) -> None:
        from multiprocessing import util

        util.Finalize(None, _close_all_at_exit, exitpriority=100)


def _register_multiprocessing_drain() -> None:
    from multiprocessing import util

    util.register_after_fork(_child, lambda child: child.after_fork())


_child = _MultiprocessingChild()  # lives as long as the module: register_after_fork keeps a weak reference
_register_multiprocessing_drain()

# Worker threads are daemons, so exit does not wait for them before atexit runs: a
# non-daemon worker blocked on its queue would hang the interpreter before this could
# close it.
atexit.register(_close_all_at_exit)
os.register_at_fork(after_in_child=_after_fork_in_child)
