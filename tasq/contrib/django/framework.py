"""Django's Tasks framework: ``django.tasks`` on Django >= 6, else the ``django-tasks`` backport.

Both have the same API under different module names; everything here is from whichever exists.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.util import find_spec
from typing import Any

__all__ = [
    "BaseTaskBackend",
    "InvalidTaskBackend",
    "TaskContext",
    "TaskError",
    "TaskResult",
    "TaskResultDoesNotExist",
    "TaskResultStatus",
    "normalize_json",
    "task_enqueued",
    "task_finished",
    "task_started",
]

# Django >= 6 has django.tasks; Django 4.2-5.2 have the django-tasks backport, same API.
if find_spec("django.tasks") is not None:
    _FRAMEWORK = "django.tasks"
elif find_spec("django_tasks") is not None:
    _FRAMEWORK = "django_tasks"
else:
    raise ImportError("TasQBackend needs Django >= 6.0 (django.tasks) or the backport: pip install django-tasks")


def _load(module: str, name: str) -> Any:
    return getattr(importlib.import_module(_FRAMEWORK + module), name)


BaseTaskBackend: Any = _load(".backends.base", "BaseTaskBackend")
TaskContext = _load(".base", "TaskContext")
TaskError = _load(".base", "TaskError")
TaskResult = _load(".base", "TaskResult")
TaskResultStatus = _load(".base", "TaskResultStatus")
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
