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

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..checks import check_schedule, check_task_id
from ..control import check_each, kept_for_retry
from ..payload import resolve_name
from ..task import TaskOptions
from .ledger import Ledger
from .payload import check_json, resolve_call, task_name
from .registry import collect_functions

if TYPE_CHECKING:
    from .base import BrokerEngine

__all__ = ["BrokerControl"]

_Call = tuple[Callable[..., object], tuple[Any, ...], dict[str, Any], TaskOptions]  # resolve_call's


class BrokerControl:
    """``cancel``, ``retry`` and ``enqueue_many`` through the broker and its ledger."""

    __slots__ = ()

    def cancel(self: BrokerEngine, task_id: int) -> bool:  # type: ignore[misc]
        return self._ledger_of(task_id).cancel(self.name, task_id)

    def retry(self: BrokerEngine, task_id: int) -> int:  # type: ignore[misc]
        kept = self._ledger_of(task_id).failed_call(self.name, task_id)
        name, args, kwargs = kept_for_retry(task_id, kept)
        fn, options = _function(name)
        return self._accept(fn, tuple(args), kwargs, options, None, None, None)

    def enqueue_many(  # type: ignore[misc]
        self: BrokerEngine,
        tasks: Iterable[object],
        *,
        delay: float | timedelta | datetime | None = None,
        priority: int | None = None,
    ) -> list[int]:
        def checked(task: object) -> _Call:
            call = resolve_call(task)
            fn, args, kwargs, options = call
            check_json(task_name(fn, options), args, kwargs)
            check_schedule(delay, priority, options)
            return call

        calls = check_each(self, tasks, checked)
        return [self._accept(fn, args, kwargs, options, delay, priority, None) for fn, args, kwargs, options in calls]

    def _ledger_of(self: BrokerEngine, task_id: int) -> Ledger:  # type: ignore[misc]
        """The ledger that knows ``task_id`` (checked first): the in-process one while eager."""
        check_task_id(task_id)
        return self._local if self._eager else self._connected()


def _function(name: str) -> tuple[Any, TaskOptions]:
    function = collect_functions().get(name)
    if function is not None:
        return function.fn, function.options
    fn = resolve_name(name)
    if fn is None:
        raise ValueError(f"retry: task {name!r} is not found in this process (import its module first)")
    return fn, TaskOptions(name=name)
