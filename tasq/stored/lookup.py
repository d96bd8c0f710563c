"""Finding a stored task's function again, by the name it was stored under.

``module.qualname`` is imported; a ``name=`` given to ``@background`` is found among the
``@background`` functions of the modules imported so far (as a broker's worker finds it).
What is found is kept, and so is what was not: a renamed function costs one search.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..decorators import BackgroundFunction
from ..payload import find_qualified, task_name
from ..task import TaskOptions

__all__ = ["Found", "Lookup"]

Found = tuple[Callable[..., object], TaskOptions]


class Lookup:
    """Name → (function, its ``@background`` options), for the tasks one engine runs."""

    def __init__(self) -> None:
        self._found: dict[str, Found | None] = {}
        self._lock = threading.Lock()

    def remember(self, name: str, fn: Callable[..., object], options: TaskOptions) -> None:
        """What ``enqueue`` saw under ``name``: the process that stored a task finds it at once."""
        if name not in self._found:
            with self._lock:
                self._found[name] = (fn, options)

    def find(self, name: str) -> Found | None:
        try:
            return self._found[name]
        except KeyError:
            pass
        found = _imported(name) or _registered(name)
        with self._lock:
            self._found[name] = found
        return found


def _imported(name: str) -> Found | None:
    try:
        target = find_qualified(name)
    except Exception:  # noqa: BLE001 - a module that fails to import: the task is not found
        return None
    return None if target is None else _entry(name, target)


def _registered(name: str) -> Found | None:
    from ..backends.registry import collect_functions  # every @background function by name

    try:
        function = collect_functions().get(name)
    except ValueError:  # two functions share the name: neither is the one
        return None
    return None if function is None else (function.fn, function.options)


def _entry(name: str, target: object) -> Found | None:
    if isinstance(target, BackgroundFunction):
        try:
            found = task_name(target.fn, target.options)
        except TypeError:
            return None
        return (target.fn, target.options) if found == name else None
    if callable(target) and getattr(target, "__qualname__", None) and not isinstance(target, type):
        return target, TaskOptions()
    return None
