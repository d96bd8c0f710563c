"""One Django task on the engine, and the results that ``get_result()`` answers from."""

from __future__ import annotations

import logging
import os
import threading
import traceback
from collections import deque
from collections.abc import Callable
from inspect import iscoroutinefunction
from typing import Any

from django.utils import timezone

from tasq import RetryTask, TaskOptions

from .framework import TaskContext, TaskError, normalize_json, task_enqueued, task_finished, task_started
from .framework import TaskResultStatus as Status

__all__ = ["Results", "Run", "results_of"]

logger = logging.getLogger(__name__)

_set = object.__setattr__  # TaskResult is a frozen dataclass; Django's own backends do the same


class Results:
    """One alias's results: every task not finished yet, and the last ``size`` finished."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.by_id: dict[str, Any] = {}
        self.finished_ids: deque[str] = deque()

    def finished(self, result_id: str) -> None:
        ids = self.finished_ids
        ids.append(result_id)
        while len(ids) > self.size:
            try:
                self.by_id.pop(ids.popleft(), None)
            except IndexError:  # another worker dropped the oldest first
                break


_stores: dict[str, Results] = {}


def results_of(alias: str, size: int) -> Results:
    store = _stores.setdefault(alias, Results(size))
    store.size = size
    return store


_functions: dict[Callable[..., object], tuple[TaskOptions, bool]] = {}  # @task functions: module level


class Run:
    """One Django task on the engine: ``do()`` runs an attempt, the engine's hooks the rest."""

    __slots__ = ("is_async", "result", "results", "sender", "task_id", "tasq_options")

    def __init__(self, result: Any, results: Results, sender: type) -> None:
        self.result = result
        self.results = results
        self.sender = sender
        self.task_id = 0
        func = result.task.func
        known = _functions.get(func)
        if known is None:
            # The engine names the task by its options in its logs: the Django task's path.
            known = _functions[func] = (TaskOptions(name=result.task.module_path), iscoroutinefunction(func))
        self.tasq_options, self.is_async = known

    def enqueued(self, task_id: int, result_id: str) -> None:
        self.task_id = task_id
        result = self.result
        _set(result, "id", result_id)
        _set(result, "enqueued_at", timezone.now())
        self.results.by_id[result_id] = result
        self._send(task_enqueued)

    def do(self) -> object:
        if self.is_async:
            return self._run_async()
        self._start()
        result = self.result
        return normalize_json(result.task.func(*self._args(), **result.kwargs))

    async def _run_async(self) -> object:
        self._start()
        result = self.result
        return normalize_json(await result.task.func(*self._args(), **result.kwargs))

    def _args(self) -> list[Any]:
        result = self.result
        return [TaskContext(task_result=result), *result.args] if result.task.takes_context else result.args

    def _start(self) -> None:
        result = self.result
        now = timezone.now()
        if result.started_at is None:
            _set(result, "started_at", now)
        _set(result, "last_attempted_at", now)
        result.worker_ids.append(f"{os.getpid()}-{threading.current_thread().name}")
        _set(result, "status", Status.RUNNING)
        self._send(task_started)

    def retried(self, error: RetryTask) -> None:
        self.result.errors.append(_task_error(error))
        _set(self.result, "status", Status.READY)

    def done(self, return_value: object) -> None:
        result = self.result
        _set(result, "_return_value", return_value)  # before the status: readers check it first
        _set(result, "finished_at", timezone.now())
        _set(result, "status", Status.SUCCESSFUL)
        self.results.finished(result.id)
        self._send(task_finished)

    def failed(self, error: BaseException) -> None:
        result = self.result
        result.errors.append(_task_error(error))
        _set(result, "finished_at", timezone.now())
        _set(result, "status", Status.FAILED)
        self.results.finished(result.id)
        self._send(task_finished)

    def _send(self, signal: Any) -> None:
        for receiver, response in signal.send_robust(self.sender, task_result=self.result):
            if isinstance(response, Exception):
                task_id = self.task_id
                logger.error(
                    "signal receiver %r raised for task %d",
                    receiver,
                    task_id,
                    exc_info=response,
                    extra={"task_id": task_id},
                )


def _task_error(error: BaseException) -> Any:
    kind = type(error)
    return TaskError(
        exception_class_path=f"{kind.__module__}.{kind.__qualname__}",
        traceback="".join(traceback.format_exception(error)),
    )


def _after_fork_in_child() -> None:
    for store in _stores.values():  # what was pending belongs to the parent, which runs it
        store.by_id.clear()
        store.finished_ids.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)
