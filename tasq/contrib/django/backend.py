"""``TASKS = {"default": {"BACKEND": "tasq.contrib.django.backend.TasQBackend"}}``.

Django's Tasks framework (``django.tasks`` on Django 6, the ``django-tasks`` backport before)
on the process's TasQ engine. The backend is a stateless facade: Django makes one instance
per thread, and new ones whenever settings change, so an instance holds only its settings;
tasks run on ``get_engine()`` and results live in one store per alias, in this process.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import traceback
from collections import deque
from collections.abc import Callable
from datetime import datetime
from importlib.util import find_spec
from inspect import iscoroutinefunction
from typing import Any

from django.utils import timezone

from tasq import RetryTask, TaskOptions, TasQ

from . import get_engine
from .hooks import tracking

__all__ = ["TasQBackend"]

logger = logging.getLogger(__name__)

# Django >= 6 has django.tasks; Django 4.2-5.2 have the django-tasks backport, same API.
_FRAMEWORK = "django.tasks" if find_spec("django.tasks") is not None else "django_tasks"


def _load(module: str, name: str) -> Any:
    return getattr(importlib.import_module(_FRAMEWORK + module), name)


BaseTaskBackend: Any = _load(".backends.base", "BaseTaskBackend")
TaskContext = _load(".base", "TaskContext")
TaskError = _load(".base", "TaskError")
TaskResult = _load(".base", "TaskResult")
Status = _load(".base", "TaskResultStatus")
TaskResultDoesNotExist = _load(".exceptions", "TaskResultDoesNotExist")
# Django 6 names it InvalidTaskBackend, the backport InvalidTaskBackendError.
InvalidTaskBackend = _load(
    ".exceptions", "InvalidTaskBackend" if _FRAMEWORK == "django.tasks" else "InvalidTaskBackendError"
)
task_enqueued = _load(".signals", "task_enqueued")
task_started = _load(".signals", "task_started")
task_finished = _load(".signals", "task_finished")
normalize_json: Callable[[object], object] = (
    _load(".utils", "normalize_json")
    if _FRAMEWORK == "django_tasks"
    else importlib.import_module("django.utils.json").normalize_json
)

DEFAULT_RESULTS = 10_000
_set = object.__setattr__  # TaskResult is a frozen dataclass; Django's own backends do the same


class TasQBackend(BaseTaskBackend):  # type: ignore[misc]  # Django ships no type hints
    # Does the backend support Tasks to be enqueued with the run_after attribute?
    supports_defer = True
    # Does the backend support coroutines to be enqueued? They run on the engine's loop.
    supports_async_task = True
    # Does the backend support results being retrieved? From any thread of this process.
    supports_get_result = True
    # Does the backend support executing Tasks in a given priority order?
    supports_priority = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        unknown = sorted(set(self.options) - {"RESULTS"})
        size = self.options.get("RESULTS", DEFAULT_RESULTS)
        if unknown:
            raise InvalidTaskBackend(f"TASKS[{alias!r}]['OPTIONS']: unknown option(s) {unknown}; known: ['RESULTS']")
        if type(size) is not int or size < 0:
            raise InvalidTaskBackend(f"TASKS[{alias!r}]['OPTIONS']['RESULTS'] must be an int >= 0, not {size!r}")
        self.results = _results_of(alias, size)

    def enqueue(self, task: Any, args: Any, kwargs: Any) -> Any:
        engine, run, delay = self._prepare(task, args, kwargs)
        token = tracking.set(run)
        try:
            engine.enqueue(run, delay=delay, priority=int(task.priority))
        finally:
            tracking.reset(token)
        return run.result

    async def aenqueue(self, task: Any, args: Any, kwargs: Any) -> Any:
        # Enqueueing never does I/O: no thread hop; a full bounded queue is awaited.
        engine, run, delay = self._prepare(task, args, kwargs)
        token = tracking.set(run)
        try:
            await engine.aenqueue(run, delay=delay, priority=int(task.priority))
        finally:
            tracking.reset(token)
        return run.result

    def get_result(self, result_id: str) -> Any:
        try:
            return self.results.by_id[result_id]
        except KeyError:
            raise TaskResultDoesNotExist(result_id) from None

    async def aget_result(self, result_id: str) -> Any:
        return self.get_result(result_id)

    def check(self, **kwargs: Any) -> list[Any]:
        from django.apps import apps
        from django.core.checks import Warning as CheckWarning

        from .checks import settings_messages

        if apps.is_installed("tasq.contrib.django"):
            return []  # the app checks settings.TASQ itself
        hint = "Add 'tasq.contrib.django' to INSTALLED_APPS."
        missing = CheckWarning(
            "TasQBackend is configured but the tasq.contrib.django app is not installed: @background"
            " functions then run on tasq.default(), not on this engine.",
            hint=hint,
            id="tasq.W001",
        )
        return [missing, *settings_messages()]

    def _prepare(self, task: Any, args: Any, kwargs: Any) -> tuple[TasQ, _Run, datetime | None]:
        self.validate_task(task)
        engine = get_engine()
        if type(engine) is not TasQ:
            raise InvalidTaskBackend("TasQBackend needs settings.TASQ['BACKEND'] = 'thread' (see check tasq.E002)")
        result = TaskResult(
            task=task,
            id="",  # "<engine prefix><task id>", set once the engine accepted it
            status=Status.READY,
            enqueued_at=None,
            started_at=None,
            last_attempted_at=None,
            finished_at=None,
            args=args,
            kwargs=kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        run_after = task.run_after
        if run_after is not None and timezone.is_naive(run_after):  # USE_TZ = False: local time
            run_after = timezone.make_aware(run_after, timezone.get_default_timezone())
        return engine, _Run(result, self.results, type(self)), run_after


class _Results:
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


_stores: dict[str, _Results] = {}


def _results_of(alias: str, size: int) -> _Results:
    store = _stores.setdefault(alias, _Results(size))
    store.size = size
    return store


_functions: dict[Callable[..., object], tuple[TaskOptions, bool]] = {}  # @task functions: module level


class _Run:
    """One Django task on the engine: ``do()`` runs an attempt, the engine's hooks the rest."""

    __slots__ = ("is_async", "result", "results", "sender", "task_id", "tasq_options")

    def __init__(self, result: Any, results: _Results, sender: type) -> None:
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
                tid = self.task_id
                extra = {"task_id": tid}
                logger.error("signal receiver %r raised for task %d", receiver, tid, exc_info=response, extra=extra)


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
