"""The process-wide registry of periodic functions, by engine name.

Decorating registers a function and starts nothing (no thread at import or decoration). A
function given an engine (``engine.periodic``, ``tasq=``) runs on that engine; one without
runs on the engine that ``@background`` resolution gives when an engine starts (the running
app's, else the process default ``tasq.default()``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import context

if TYPE_CHECKING:
    from ..engine import TasQ
    from .decorator import PeriodicFunction

__all__ = ["add_listener", "for_engine", "for_everything", "register", "takes_unbound", "unregister"]

_lock = threading.Lock()
_bound: dict[str, list[PeriodicFunction[..., Any]]] = {}  # engine name -> functions bound to it
_unbound: list[PeriodicFunction[..., Any]] = []
_listeners: list[Callable[[PeriodicFunction[..., Any]], None]] = []


def register(function: PeriodicFunction[..., Any]) -> None:
    with _lock:
        if function.engine is None:
            _unbound.append(function)
        else:
            _bound.setdefault(function.engine.name, []).append(function)
        listeners = list(_listeners)
    for listener in listeners:
        listener(function)


def unregister(function: PeriodicFunction[..., Any]) -> None:
    """Forget ``function``: engines that start from now on do not run it (tests use this)."""
    with _lock:
        for functions in (_unbound, *_bound.values()):
            if function in functions:
                functions.remove(function)


def add_listener(listener: Callable[[PeriodicFunction[..., Any]], None]) -> None:
    """Call ``listener`` with each function registered from now on (a running ticker adds it)."""
    with _lock:
        _listeners.append(listener)


def takes_unbound(engine: TasQ) -> bool:
    """Whether ``engine`` is the one ``@background`` resolution gives here and now."""
    resolved = context.resolve_engine()
    if resolved is not None:
        return resolved is engine
    # The process default engine, read without making one as default() would.
    return context._default is engine


def for_engine(engine: TasQ, unbound: bool) -> list[PeriodicFunction[..., Any]]:
    """The functions ``engine`` runs: those bound to it, and the unbound ones if it takes them."""
    with _lock:
        bound = [function for function in _bound.get(engine.name, []) if function.engine is engine]
        return bound + (list(_unbound) if unbound else [])


def for_everything() -> list[PeriodicFunction[..., Any]]:
    """Every registered function, bound or not."""
    with _lock:
        return [*_unbound, *(function for functions in _bound.values() for function in functions)]


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # another thread may have held it at fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
