"""What the thread engine queues per task: an entry ``(task_id, call, state)``.

An entry stays a plain tuple, read by unpacking (``task_id, call, state = entry``): a tuple
is the cheapest object to make and to take apart, and one is made per task. ``state`` is
None for a first attempt with nothing special about it, which is what most tasks are.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from typing import Any

from ..hooks import RunningTask, describe
from ..task import TaskOptions

__all__ = ["TOKEN", "Call", "Entry", "TaskState", "nothing", "running_task", "task_name"]

Call = Callable[[], object]

# Put in the ready queue for each entry that went to the priority heap instead: the worker
# that draws it takes the heap's first entry (see priority.py).
TOKEN: Any = object()


class TaskState:
    """What an entry carries beyond its id and call once it is not a plain first attempt."""

    __slots__ = ("attempt", "headers", "holds_slot", "options", "priority")

    def __init__(self, options: TaskOptions | None, priority: int, holds_slot: bool = False) -> None:
        self.attempt = 1
        self.priority = priority
        self.options = options
        self.holds_slot = holds_slot  # it counts against queue_size until its first attempt starts
        self.headers: dict[str, str] | None = None  # what before_enqueue hooks added


Entry = tuple[int, Call, TaskState | None]


_NO_HEADERS: types.MappingProxyType[str, str] = types.MappingProxyType({})
_FunctionType = types.FunctionType


def running_task(entry: Entry) -> RunningTask:
    """``current_task()`` of an entry's attempt: made only when someone asks."""
    task_id, call, state = entry
    if state is None:
        return RunningTask(task_id, task_name(call), 1, _NO_HEADERS)
    headers = _NO_HEADERS if state.headers is None else types.MappingProxyType(state.headers)
    return RunningTask(task_id, task_name(call), state.attempt, headers)


_last_named: tuple[object, str] = (None, "")  # the function last named, and its name


def task_name(call: Call) -> str:
    """``describe`` of an entry's call, at its quickest for functions and their partials
    (the same function enqueued again is named once)."""
    global _last_named
    fn = call.func if type(call) is functools.partial else call
    last = _last_named
    if last[0] is fn:
        return last[1]
    if type(fn) is _FunctionType:
        module = fn.__module__
        if module:
            name = f"{module}.{fn.__qualname__}"
            _last_named = (fn, name)
            return name
    return describe(call)


def nothing() -> None:
    """Stands in for the call of a task abandoned at exit."""
