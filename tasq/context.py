from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING

from . import lifecycle

if TYPE_CHECKING:
    from .engine import TasQ

__all__ = [
    "current_engine",
    "default",
    "register_resolver",
    "reset_current_engine",
    "resolve_engine",
    "set_current_engine",
    "use_engine",
]

Resolver = Callable[[], "TasQ | None"]

_engine: ContextVar[TasQ | None] = ContextVar("tasq_engine", default=None)
_resolvers: list[Resolver] = []  # in the order they are asked: fallbacks last
_fallbacks: list[Resolver] = []
_default: TasQ | None = None
_default_lock = threading.Lock()


def register_resolver(resolver: Resolver, *, fallback: bool = False) -> None:
    """Let an integration name the engine of the running app (Flask's ``current_app``, ...).

    A ``fallback`` resolver answers without a context of its own (say, the newest app's
    engine): it is asked only after every other one found nothing.
    """
    if resolver not in _resolvers:
        if fallback:
            _resolvers.append(resolver)
        else:
            _resolvers.insert(_resolvers.index(_fallbacks[0]) if _fallbacks else len(_resolvers), resolver)
        if fallback:
            _fallbacks.append(resolver)


@contextmanager
def use_engine(engine: TasQ) -> Iterator[TasQ]:
    """Make ``engine`` the one ``@background`` functions use inside this block."""
    token = _engine.set(engine)
    try:
        yield engine
    finally:
        _engine.reset(token)


def set_current_engine(engine: TasQ | None) -> Token[TasQ | None]:
    """``use_engine`` for middleware on a hot path: pair it with ``reset_current_engine``."""
    return _engine.set(engine)


def reset_current_engine(token: Token[TasQ | None]) -> None:
    _engine.reset(token)


def set_thread_engine(engine: TasQ | None) -> None:
    """For the engine's own threads: tasks they run enqueue on their engine."""
    _engine.set(engine)


def current_engine() -> TasQ:
    """The engine ``@background`` uses here: the block's, the running app's, else ``default()``."""
    engine = resolve_engine()
    return default() if engine is None else engine


def resolve_engine() -> TasQ | None:
    """The block's or the running app's engine, if there is one; never makes ``default()``."""
    engine = _engine.get()
    if engine is not None:
        return engine
    for resolver in _resolvers:
        engine = resolver()
        if engine is not None:
            return engine
    return None


def default() -> TasQ:
    """The process's own engine, made on first use; it starts with its first task.

    Once closed, the next call makes a new one, except at interpreter exit: an engine made
    after the exit drain would never report its tasks, so the closed one (which refuses
    them with TasQClosed) is returned.
    """
    global _default
    engine = _default
    if engine is None or (engine.closed and not lifecycle.exiting()):
        with _default_lock:
            if _default is None or (_default.closed and not lifecycle.exiting()):
                from .engine import TasQ

                _default = TasQ(autostart=True)
            engine = _default
    return engine
