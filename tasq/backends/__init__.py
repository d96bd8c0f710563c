"""Scale-out: the same tasks on a distributed engine, chosen with ``TasQ(backend=...)``."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..engine import TasQ

__all__ = ["BACKENDS", "engine_class"]

# name -> "module:EngineClass", each a subclass of TasQ; "thread" is TasQ itself.
BACKENDS: dict[str, str] = {}


def engine_class(name: str) -> type[TasQ]:
    """The engine class of backend ``name``, with a clear error for unknown or missing ones."""
    if not isinstance(name, str):
        raise TypeError(f"backend must be a str, not {type(name).__name__}")
    try:
        path = BACKENDS[name]
    except KeyError:
        known = ", ".join(["thread", *sorted(BACKENDS)])
        raise ValueError(f"unknown backend {name!r}; known: {known}") from None
    module_name, _, class_name = path.partition(":")
    module = importlib.import_module(module_name)
    engine: type[TasQ] = getattr(module, class_name)
    return engine
