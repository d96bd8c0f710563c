"""The slow work: a welcome mail per signup (@background) and a report (Django's @task)."""

from __future__ import annotations

import time
from typing import Any

import django
from django.db.models import F
from django.utils import timezone

from tasq import RetryTask, background

from .models import Signup

if django.VERSION >= (6, 0):
    from django.tasks import TaskContext, TaskResult, task
    from django.tasks.exceptions import TaskResultDoesNotExist
else:  # Django 4.2-5.2: the django-tasks backport
    from django_tasks import TaskContext, TaskResult, task
    from django_tasks.exceptions import TaskResultDoesNotExist

__all__ = ["TaskResult", "TaskResultDoesNotExist", "build_report", "send_welcome"]


@background
def send_welcome(signup_id: int, work_ms: float = 2.0) -> None:
    """Send the welcome mail; ``work_ms`` stands for the time the mail server takes."""
    signup = Signup.objects.get(pk=signup_id)
    time.sleep(work_ms / 1000)
    tried = Signup.objects.filter(pk=signup_id)
    if signup_id % 20 == 0 and signup.attempts == 0:
        # Every 20th mail finds the server busy once: TasQ tries again (settings.TASQ["MAX_RETRY"]).
        tried.update(attempts=F("attempts") + 1)
        raise RetryTask("the mail server is busy", delay=0.05)
    tried.update(attempts=F("attempts") + 1, welcomed_at=timezone.now())


@task(takes_context=True)
def build_report(context: TaskContext, since_id: int = 0) -> dict[str, Any]:
    """Count signups and welcome mails; the result is kept for get_result()."""
    signups = Signup.objects.filter(pk__gt=since_id)
    return {
        "signups": signups.count(),
        "welcomed": signups.exclude(welcomed_at=None).count(),
        "attempt": context.attempt,
    }
