"""What a worker process knows: its engines by name, and its @background functions by name.

A message names the engine that accepted it and the function to run. The worker reports
through the engine of that name made in its own process (by the same app code, so with
the same hooks and callbacks), and finds the function among the ``@background`` functions
of the modules it imported.
"""

from __future__ import annotations

import sys
import threading
import weakref
from collections.abc import Iterable
from types import ModuleType
from typing import TYPE_CHECKING

from ..decorators import BackgroundFunction
from ..payload import task_name

if TYPE_CHECKING:
    from .base import BrokerEngine

__all__ = ["collect_functions", "engine_named", "engines", "register_engine"]

_engines: weakref.WeakValueDictionary[str, BrokerEngine] = weakref.WeakValueDictionary()
_lock = threading.Lock()


def register_engine(engine: BrokerEngine) -> None:
    """The latest engine made with a name is the one workers report through."""
    with _lock:
        _engines[engine.name] = engine


def engine_named(name: str) -> BrokerEngine | None:
    with _lock:
        return _engines.get(name)


def engines() -> list[BrokerEngine]:
    with _lock:
        return list(_engines.values())


def collect_functions(modules: Iterable[ModuleType] | None = None) -> dict[str, BackgroundFunction[..., object]]:
    """Every sendable ``@background`` function at module level, by the name it is sent under.

    By default every imported module is searched: a function reached only through an
    import of the module you named is found too.
    """
    found: dict[str, BackgroundFunction[..., object]] = {}
    for module in list(sys.modules.values()) if modules is None else modules:
        try:
            values = list(vars(module).values())
        except TypeError:  # a module-like object without a __dict__
            continue
        for value in values:
            # type(), not isinstance(): isinstance asks the object for its __class__, which
            # sets a lazy object up (django.contrib.admin.site outside its app registry).
            if not issubclass(type(value), BackgroundFunction):
                continue
            try:
                name = task_name(value.fn, value.options)
            except TypeError:
                continue  # it could never be sent either
            other = found.setdefault(name, value)
            if other is not value and other.fn is not value.fn:
                raise ValueError(
                    f"two @background functions are named {name!r}: {_where(other)} and {_where(value)}; "
                    "give one of them another name="
                )
    return found


def _where(function: BackgroundFunction[..., object]) -> str:
    fn = function.fn
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', '?')}"
