"""What the engine's hooks are handed (the call of one attempt), told as a name and arguments."""

from __future__ import annotations

import functools
import reprlib
from collections.abc import Callable
from typing import Any

from ..hooks import Hooks
from ..task import BackgroundCall

__all__ = ["arguments", "call_arguments", "task_name", "unwrap"]

_repr = reprlib.Repr()
_repr.maxstring = 160
_repr.maxother = 80
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 6
_repr.maxlevel = 3
_LONGEST = 300  # characters of argument text per task


def unwrap(call: Callable[[], object]) -> object:
    """The task behind ``call``: other hooks' ``around_task`` wrappers peeled off, ``do`` undone.

    Returns the object that ``enqueue`` accepted for this task, or the partial ``submit`` made.
    """
    target: Any = call
    # An attempt with several around_task hooks is partial(hook.around_task, task_id, inner).
    while (
        type(target) is functools.partial
        and isinstance(getattr(target.func, "__self__", None), Hooks)
        and len(target.args) == 2
    ):
        target = target.args[1]
    # A call under a time limit carries the call it limits.
    while hasattr(type(target), "tasq_call"):
        target = target.tasq_call
    self = getattr(target, "__self__", None)
    if self is not None and getattr(target, "__name__", None) == "do":
        return self
    return target


def task_name(task: object) -> str:
    """``module.qualname`` of a task's function, or of its class for a ``do()`` object."""
    if type(task) is BackgroundCall:
        name = task.tasq_options.name
        return name if name else _qualified(task.fn)
    if type(task) is functools.partial:
        return _qualified(task.func)
    if hasattr(task, "__qualname__"):
        return _qualified(task)
    return _qualified(type(task))


def arguments(task: object) -> str:
    """The arguments of a task as short reprs, ``"'a@example.com', retries=2"``; ``""`` for none."""
    if type(task) is BackgroundCall:
        args, kwargs = task.args, task.kwargs
    elif type(task) is functools.partial:
        args, kwargs = task.args, task.keywords
    else:
        return ""
    return call_arguments(args, kwargs)


def call_arguments(args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any]) -> str:
    """Positional and keyword arguments as ``arguments`` tells them."""
    text = ", ".join([_repr.repr(a) for a in args] + [f"{k}={_repr.repr(v)}" for k, v in kwargs.items()])
    return text if len(text) <= _LONGEST else text[: _LONGEST - 1] + "…"


def _qualified(thing: object) -> str:
    module = getattr(thing, "__module__", None)
    qualname = getattr(thing, "__qualname__", None) or type(thing).__qualname__
    return f"{module}.{qualname}" if module and module != "builtins" else str(qualname)
