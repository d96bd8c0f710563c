"""What crosses the wire: a task's name, its JSON arguments and TasQ's header.

A broker runs a task in another process, which finds the function by name and gets its
arguments through JSON. Both are checked here, at ``enqueue``, so that a mistake is a
``TypeError`` in the caller and never a message that fails on a worker.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..decorators import BackgroundCall, BackgroundFunction
from ..task import TaskOptions

__all__ = ["HEADER", "TaskMessage", "check_json", "resolve_call", "resolve_submit", "task_name"]

HEADER = "tasq"  # the key of TasQ's header among a broker message's options

_SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskMessage:
    """One attempt of a task, as every backend sends it and every worker reads it."""

    id: int
    name: str
    args: list[Any]
    kwargs: dict[str, Any]
    engine: str  # the name of the engine that accepted it: a worker reports through its namesake
    attempt: int = 1
    max_retry: int
    retry_delay: float | None  # None: a callable, which the worker looks up again
    results: int  # how many finished results the status store keeps (the engine's ``results``)
    producer: str  # which engine instance accepted it, for its ``join()``
    headers: dict[str, str] = field(default_factory=dict)  # what before_enqueue hooks added

    def header(self) -> dict[str, Any]:
        header = {
            "id": self.id,
            "engine": self.engine,
            "attempt": self.attempt,
            "max_retry": self.max_retry,
            "retry_delay": self.retry_delay,
            "results": self.results,
            "producer": self.producer,
        }
        if self.headers:
            header["headers"] = self.headers
        return header

    @classmethod
    def read(cls, name: str, args: Any, kwargs: Any, header: Any) -> TaskMessage | None:
        """The message a worker received, or None when it is not one of TasQ's."""
        if not isinstance(header, dict) or type(header.get("id")) is not int:
            return None
        try:
            return cls._from_header(name, args, kwargs, header)
        except (TypeError, ValueError):
            return None  # a header TasQ did not write: not one of its tasks

    @classmethod
    def _from_header(cls, name: str, args: Any, kwargs: Any, header: dict[str, Any]) -> TaskMessage:
        retry_delay = header.get("retry_delay")
        headers = header.get("headers") or {}
        if not isinstance(headers, dict) or not all(type(k) is str and type(v) is str for k, v in headers.items()):
            raise TypeError("headers must map str to str")
        return cls(
            id=header["id"],
            name=name,
            args=list(args),
            kwargs=dict(kwargs),
            engine=str(header.get("engine", "default")),
            attempt=int(header.get("attempt", 1)),
            max_retry=int(header.get("max_retry", 1)),
            retry_delay=None if retry_delay is None else float(retry_delay),
            results=int(header.get("results", 0)),
            producer=str(header.get("producer", "")),
            headers=dict(headers),
        )


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
