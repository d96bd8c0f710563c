"""``TASKS = {"default": {"BACKEND": "tasq.contrib.django.backend.TasQBackend"}}``.

Django's Tasks framework (``django.tasks`` on Django 6, the ``django-tasks`` backport before)
on the process's TasQ engine. The backend is a stateless facade: Django makes one instance
per thread, and new ones whenever settings change, so an instance holds only its settings;
tasks run on ``get_engine()`` and results live in one store per alias, in this process.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from tasq import TasQ

from . import get_engine
from .apps import connect
from .framework import BaseTaskBackend, InvalidTaskBackend, TaskResult, TaskResultDoesNotExist, TaskResultStatus
from .hooks import tracking
from .runs import Run, results_of

__all__ = ["TasQBackend"]

DEFAULT_RESULTS = 10_000


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
        connect()  # the backend works without the app in INSTALLED_APPS, too
        unknown = sorted(set(self.options) - {"RESULTS"})
        size = self.options.get("RESULTS", DEFAULT_RESULTS)
        if unknown:
            raise InvalidTaskBackend(f"TASKS[{alias!r}]['OPTIONS']: unknown option(s) {unknown}; known: ['RESULTS']")
        if type(size) is not int or size < 0:
            raise InvalidTaskBackend(f"TASKS[{alias!r}]['OPTIONS']['RESULTS'] must be an int >= 0, not {size!r}")
        self.results = results_of(alias, size)

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

        from .checks import settings_messages

        if apps.is_installed("tasq.contrib.django"):
            return []  # the app checks settings.TASQ itself
        return list(settings_messages())  # the backend connected @background itself: only bad settings matter

    def _prepare(self, task: Any, args: Any, kwargs: Any) -> tuple[TasQ, Run, datetime | None]:
        self.validate_task(task)
        engine = get_engine()
        if not engine.supports_any_callable:  # it enqueues a closure per task
            raise InvalidTaskBackend(
                "TasQBackend needs the in-memory engine: settings.TASQ['BACKEND'] = 'thread' and no 'STORE'"
                " (see check tasq.E002)"
            )
        result = TaskResult(
            task=task,
            id="",  # "<engine prefix><task id>", set once the engine accepted it
            status=TaskResultStatus.READY,
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
        return engine, Run(result, self.results, type(self)), run_after
