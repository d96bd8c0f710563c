"""The least a Django Tasks backend does per task, inline: the baseline of bench_django.

It validates the task, builds its TaskResult, takes three timestamps, sends Django's
task_enqueued / task_started / task_finished and runs the function in the caller's
thread: no id, no queue, no thread, nothing kept. Imported by Django through TASKS.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any

from django.utils import timezone

if find_spec("django.tasks") is not None:
    from django.tasks import TaskResult, TaskResultStatus
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.signals import task_enqueued, task_finished, task_started
    from django.utils.json import normalize_json
else:
    from django_tasks import TaskResult, TaskResultStatus  # type: ignore[no-redef]
    from django_tasks.backends.base import BaseTaskBackend  # type: ignore[no-redef]
    from django_tasks.signals import task_enqueued, task_finished, task_started  # type: ignore[no-redef]
    from django_tasks.utils import normalize_json  # type: ignore[no-redef]

_set = object.__setattr__


class FloorBackend(BaseTaskBackend):  # type: ignore[misc]
    supports_defer = supports_async_task = supports_get_result = supports_priority = True

    def enqueue(self, task: Any, args: Any, kwargs: Any) -> Any:
        self.validate_task(task)
        result = TaskResult(
            task=task,
            id="",
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
        _set(result, "enqueued_at", timezone.now())
        task_enqueued.send(type(self), task_result=result)
        now = timezone.now()
        _set(result, "started_at", now)
        _set(result, "last_attempted_at", now)
        _set(result, "status", TaskResultStatus.RUNNING)
        task_started.send(type(self), task_result=result)
        _set(result, "_return_value", normalize_json(task.func(*result.args, **result.kwargs)))
        _set(result, "finished_at", timezone.now())
        _set(result, "status", TaskResultStatus.SUCCESSFUL)
        task_finished.send(type(self), task_result=result)
        return result
