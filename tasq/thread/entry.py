"""What the thread engine queues per task: an entry ``(task_id, call, state)``.

An entry stays a plain tuple, read by unpacking (``task_id, call, state = entry``): a tuple
is the cheapest object to make and to take apart, and one is made per task. ``state`` is
None for a first attempt with nothing special about it, which is what most tasks are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..task import TaskOptions

__all__ = ["TOKEN", "Call", "Entry", "TaskState", "nothing"]

Call = Callable[[], object]

# Put in the ready queue for each entry that went to the priority heap instead: the worker
# that draws it takes the heap's first entry (see priority.py).
TOKEN: Any = object()


class TaskState:
    """What an entry carries beyond its id and call once it is not a plain first attempt."""

    __slots__ = ("attempt", "holds_slot", "options", "priority")

    def __init__(self, options: TaskOptions | None, priority: int, holds_slot: bool = False) -> None:
        self.attempt = 1
        self.priority = priority
        self.options = options
        self.holds_slot = holds_slot  # it counts against queue_size until its first attempt starts


Entry = tuple[int, Call, TaskState | None]


def nothing() -> None:
    """Stands in for the call of a task abandoned at exit."""
