"""What ``cancel``, ``retry`` and ``enqueue_many`` check before an engine acts on them.

Each engine finds a task its own way (``tasq/thread/control.py``, ``tasq/backends/control.py``);
the argument checks and the errors they raise are written here, once. ``cancel`` and
``retry`` take a task id checked by ``checks.check_task_id``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

from .exceptions import TasQClosed

if TYPE_CHECKING:
    from .engine import TasQ

__all__ = ["check_each", "kept_for_retry"]

T = TypeVar("T")
Kept = TypeVar("Kept")


def kept_for_retry(task_id: int, kept: Kept | str) -> Kept:
    """What an engine kept of a failed task to ``retry`` it; a str is the reason it cannot,
    raised as ValueError (unknown, not finished, succeeded, no longer kept)."""
    if isinstance(kept, str):
        raise ValueError(f"retry({task_id}): {kept}")
    return kept


def check_each(engine: TasQ, tasks: object, check: Callable[[object], T]) -> list[T]:
    """``enqueue_many``'s tasks, each through ``check``, before any is accepted: all or none.

    ``tasks`` is an iterable (not a str or bytes) for an engine that is not closed; an item
    ``check`` refuses raises its TypeError or ValueError again, naming the item's index
    (``tasks[3]: ...``).
    """
    if isinstance(tasks, (str, bytes)) or not isinstance(tasks, Iterable):
        raise TypeError(f"enqueue_many needs an iterable of tasks, not {type(tasks).__name__}")
    if engine.closed:
        raise TasQClosed(f"engine {engine.name!r} is closed")
    checked: list[T] = []
    for index, task in enumerate(list(tasks)):
        try:
            checked.append(check(task))
        except (TypeError, ValueError) as error:
            raise type(error)(f"tasks[{index}]: {error}") from None
    return checked
