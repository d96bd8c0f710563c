"""Task control on a broker engine: ``cancel``, ``retry`` and ``enqueue_many``.

A message once sent belongs to the broker: it is not taken back. ``cancel`` marks the
task's ledger record instead (atomically, and only while no attempt has started); the
worker that receives it finds the mark in ``Executor.begin``, skips the task and reports it
cancelled, once. A task that is running, finished or unknown is not marked: False. With no
ledger beside the broker (RabbitMQ alone) nothing can be marked: ``cancel`` returns False.

``retry`` reads the failed task's call (its name and JSON arguments, kept with its record
when ``results=N``) and sends it again under a new id. ``enqueue_many`` checks every item
first, then sends them one by one: a broker that refuses one midway (a lost connection)
raises, and the tasks sent before it stay sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..checks import check_schedule, check_task_id
from ..exceptions import TasQClosed
from ..payload import resolve_name
from ..task import TaskOptions
from .payload import check_json, resolve_call, task_name
from .registry import collect_functions

if TYPE_CHECKING:
    from .base import BrokerEngine

__all__ = ["BrokerControl"]


class BrokerControl:
    """``cancel``, ``retry`` and ``enqueue_many`` through the broker and its ledger."""

    __slots__ = ()

    def cancel(self: BrokerEngine, task_id: int) -> bool:  # type: ignore[misc]
        check_task_id(task_id)
        ledger = self._local if self._eager else self._connected()
        return ledger.cancel(self.name, task_id)

    def retry(self: BrokerEngine, task_id: int) -> int:  # type: ignore[misc]
        check_task_id(task_id)
        ledger = self._local if self._eager else self._connected()
        kept = ledger.failed_call(self.name, task_id)
        if isinstance(kept, str):
            raise ValueError(f"retry({task_id}): {kept}")
        name, args, kwargs = kept
        fn, options = _function(name)
        return self._accept(fn, tuple(args), kwargs, options, None, None, None)

    def enqueue_many(  # type: ignore[misc]
        self: BrokerEngine,
        tasks: Iterable[object],
        *,
        delay: float | timedelta | datetime | None = None,
        priority: int | None = None,
    ) -> list[int]:
        if isinstance(tasks, (str, bytes)) or not isinstance(tasks, Iterable):
            raise TypeError(f"enqueue_many needs an iterable of tasks, not {type(tasks).__name__}")
        if self._closed:
            raise TasQClosed(f"engine {self.name!r} is closed")
        calls: list[Any] = []
        for index, task in enumerate(list(tasks)):
            try:
                fn, args, kwargs, options = resolve_call(task)
                check_json(task_name(fn, options), args, kwargs)
                check_schedule(delay, priority, options)
            except (TypeError, ValueError) as error:
                raise type(error)(f"tasks[{index}]: {error}") from None
            calls.append((fn, args, kwargs, options))
        return [self._accept(fn, args, kwargs, options, delay, priority, None) for fn, args, kwargs, options in calls]


def _function(name: str) -> tuple[Any, TaskOptions]:
    function = collect_functions().get(name)
    if function is not None:
        return function.fn, function.options
    fn = resolve_name(name)
    if fn is None:
        raise ValueError(f"retry: task {name!r} is not found in this process (import its module first)")
    return fn, TaskOptions(name=name)
