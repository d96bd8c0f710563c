"""Which engine ``TasQ(...)`` makes: the thread engine, the store's, or a backend's, by name.

The thread engine is core; the store's engine and the backends are imported only when an
engine of theirs is first asked for, so that ``import tasq`` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engine import TasQ

__all__ = ["engine_class"]

_THREAD = "tasq.thread"
_STORED = "tasq.stored"


def engine_class(backend: str, store: object = None) -> type[TasQ]:
    """The engine class of ``backend`` (with ``store``, the store's), with a clear error for an
    unknown or missing one."""
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a str, not {type(backend).__name__}")
    if store is not None:
        if backend != "thread":
            raise ValueError(
                f"store= keeps the tasks of the in-process engine; backend={backend!r} keeps them in its "
                "broker: leave store unset, or use the default backend"
            )
        stored: type[TasQ] = importlib.import_module(_STORED).StoreEngine
        return stored
    if backend == "thread":
        engine: type[TasQ] = importlib.import_module(_THREAD).ThreadEngine
        return engine
    backends: Any = importlib.import_module("tasq.backends")  # its registry: name -> engine class
    found: type[TasQ] = backends.engine_class(backend)
    return found
