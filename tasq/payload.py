"""The rules a task obeys to leave this process: a name to be found by, JSON arguments.

A broker or a store runs a task later, perhaps in another process, which finds the function
by name and gets its arguments through JSON. Both are checked here, at ``enqueue``, so that
a mistake is a ``TypeError`` in the caller and never a record that fails when it runs.
"""

from __future__ import annotations

import importlib
import inspect
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .checks import check_schedule
from .decorators import BackgroundCall, BackgroundFunction
from .task import TaskOptions

if TYPE_CHECKING:
    from datetime import datetime, timedelta

    from .engine import TasQ

__all__ = [
    "attempt_policy",
    "check_json",
    "checked_call",
    "find_qualified",
    "resolve_call",
    "resolve_name",
    "resolve_submit",
    "task_name",
]

_SCALARS = (str, int, float, bool, type(None))
# The name each function was found sendable under (see checked_call).
_names: dict[tuple[Callable[..., object], str | None], str] = {}


def resolve_call(task: object) -> tuple[Callable[..., object], tuple[Any, ...], dict[str, Any], TaskOptions]:
    """The function, arguments and options of what ``enqueue`` was given."""
    if isinstance(task, BackgroundCall):
        return task.fn, task.args, task.kwargs, task.tasq_options
    if isinstance(task, BackgroundFunction):
        return task.fn, (), {}, task.options
    if task is None:
        raise TypeError("cannot enqueue None: pass a @background function's call, e.g. send_mail.task(to)")
    raise TypeError(
        f"cannot send {_describe(task)} to a worker: a broker runs @background functions by name, "
        "so decorate the function with @background and enqueue fn.task(*args) (or call fn.enqueue(*args))"
    )


def resolve_submit(
    fn: object, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Callable[..., object], tuple[Any, ...], dict[str, Any], TaskOptions]:
    if isinstance(fn, BackgroundFunction):
        return fn.fn, args, kwargs, fn.options
    if not callable(fn):
        raise TypeError(f"submit() needs a callable, not {type(fn).__name__}")
    raise TypeError(
        f"cannot send {_describe(fn)} to a worker: a broker runs @background functions by name, "
        "so decorate it with @background"
    )


def task_name(fn: Callable[..., object], options: TaskOptions) -> str:
    """The name a worker finds ``fn`` by: ``module.qualname``, or the ``name=`` it was given."""
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        raise TypeError(f"{_describe(fn)} is a generator function: a task must return, not yield")
    if inspect.ismethod(fn):
        raise TypeError(
            f"cannot send the bound method {_describe(fn)} to a worker: its instance does not travel; "
            "use a module-level @background function"
        )
    module = getattr(fn, "__module__", None) or "?"
    qualname = getattr(fn, "__qualname__", None) or repr(fn)
    default = f"{module}.{qualname}"
    name = options.name or default
    if name != default:
        return name  # given with name=: the worker finds it under that name
    if module == "__main__":
        why = "it is defined in __main__, which a worker process does not import"
    elif "<lambda>" in qualname:
        why = "a lambda has no name a worker can import"
    elif "<locals>" in qualname:
        why = "a nested function cannot be found by importing its module"
    else:
        return name
    raise TypeError(
        f"cannot send {default} to a worker: {why}. Define it at module level in an importable module, "
        'or give it a unique name: @background(name="myapp.send_mail")'
    )


def checked_call(
    fn: Callable[..., object],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    options: TaskOptions,
    delay: float | timedelta | datetime | None,
    priority: int | None,
) -> tuple[str, float, int]:
    """A call that leaves the process, checked: (its name, seconds until due, priority).

    The name's checks never change for one function, so each is made once."""
    key = (fn, options.name)
    name = _names.get(key)
    if name is None:
        name = _names[key] = task_name(fn, options)
    check_json(name, args, kwargs)
    seconds, priority = check_schedule(delay, priority, options)
    return name, seconds, priority


def attempt_policy(engine: TasQ, options: TaskOptions) -> tuple[int, float | None]:
    """(max_retry, retry_delay) as a message or a row carries them: the task's own, else the
    engine's; a callable delay travels as None and is looked up again by name where it runs."""
    retry_delay = engine.retry_delay if options.retry_delay is None else options.retry_delay
    max_retry = engine.max_retry if options.max_retry is None else options.max_retry
    return max_retry, None if callable(retry_delay) else float(retry_delay)


def check_json(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Refuse arguments that would not arrive as they left: JSON keeps only its own types."""
    for index, value in enumerate(args):
        _check_value(name, f"argument {index}", value, set())
    for key, value in kwargs.items():
        _check_value(name, f"argument {key!r}", value, set())


def _check_value(name: str, path: str, value: object, seen: set[int]) -> None:
    kind = type(value)
    if kind in _SCALARS:
        if kind is float and not math.isfinite(value):  # type: ignore[arg-type]
            _refuse(name, path, f"{value!r} is not a JSON number")
        return
    if kind is list:
        _enter(name, path, value, seen)
        items: list[object] = value  # type: ignore[assignment]
        for index, item in enumerate(items):
            _check_value(name, f"{path}[{index}]", item, seen)
        seen.discard(id(value))
        return
    if kind is dict:
        _enter(name, path, value, seen)
        mapping: dict[object, object] = value  # type: ignore[assignment]
        for key, item in mapping.items():
            if type(key) is not str:
                _refuse(name, path, f"the key {key!r} would arrive as the str {str(key)!r}")
            _check_value(name, f"{path}[{key!r}]", item, seen)
        seen.discard(id(value))
        return
    if kind is tuple:
        _refuse(name, path, "a tuple arrives as a list; pass a list")
    for base, json_kind in ((str, "str"), (bool, "bool"), (int, "int"), (float, "float"), (dict, "dict")):
        if isinstance(value, base):
            _refuse(name, path, f"{kind.__name__} would arrive as a plain {json_kind}")
    _refuse(name, path, f"{kind.__name__} is not a JSON type")


def _enter(name: str, path: str, container: object, seen: set[int]) -> None:
    if id(container) in seen:
        _refuse(name, path, "it contains itself")
    seen.add(id(container))


def _refuse(name: str, path: str, why: str) -> None:
    raise TypeError(
        f"{name}: {path} cannot be sent to a worker: {why}. Arguments travel as JSON: "
        "str, int, float, bool, None, and lists and dicts (with str keys) of those; nothing was sent"
    )


def _describe(obj: object) -> str:
    name = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    module = getattr(obj, "__module__", None)
    return f"{module}.{name}" if module else str(name)


def resolve_name(name: str) -> Callable[..., object] | None:
    """The function a task name stands for when it is ``module.qualname`` (None if not found).

    A name given with ``name=`` is found among the ``@background`` functions of the imported
    modules instead (``tasq.backends.registry.collect_functions`` in a worker).
    """
    target = find_qualified(name)
    if target is None:
        return None
    fn = getattr(target, "fn", target)  # a BackgroundFunction runs its function
    return fn if callable(fn) else None


def find_qualified(name: str) -> object | None:
    """What ``module.qualname`` names: the longest importable module, then its attributes."""
    module_name, _, qualname = name.rpartition(".")
    while module_name:
        try:
            target: Any = importlib.import_module(module_name)
        except ImportError:
            qualname = f"{module_name.rpartition('.')[2]}.{qualname}"
            module_name = module_name.rpartition(".")[0]
            continue
        for part in qualname.split("."):
            target = getattr(target, part, None)
            if target is None:
                return None
        found: object = target
        return found
    return None
