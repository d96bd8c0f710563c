"""Scale-out: the same tasks on a distributed engine, chosen with ``TasQ(backend=...)``."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..engine import TasQ

__all__ = ["BACKENDS", "engine_class"]

# name -> "module:EngineClass", each a subclass of TasQ; "thread" is core's tasq.thread.ThreadEngine.
# A distributed backend subclasses tasq.backends.base.BrokerEngine (see its docstring).
BACKENDS: dict[str, str] = {
    "dramatiq": "tasq.backends.dramatiq:DramatiqEngine",
    "celery": "tasq.backends.celery:CeleryEngine",
}


def engine_class(name: str) -> type[TasQ]:
    """The engine class of backend ``name``, with a clear error for unknown or missing ones."""
    if not isinstance(name, str):
        raise TypeError(f"backend must be a str, not {type(name).__name__}")
    if name == "thread":
        from ..thread import ThreadEngine

        return ThreadEngine
    try:
        path = BACKENDS[name]
    except KeyError:
        known = ", ".join(["thread", *sorted(BACKENDS)])
        raise ValueError(f"unknown backend {name!r}; known: {known}") from None
    module_name, _, class_name = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is None or error.name.startswith("tasq"):
            raise
        raise ImportError(
            f"backend {name!r} needs {error.name!r}: pip install 'tasq-worker[{name}]'", name=error.name
        ) from error
    engine: type[TasQ] = getattr(module, class_name)
    return engine
