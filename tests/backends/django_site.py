"""A Django project on a scale-out backend (Dramatiq; Celery with TASQ_BACKEND=celery),
reduced to what a worker process needs: ``tasq worker tests.backends.django_site`` sets
Django up, and the engine Django makes from ``settings.TASQ`` reports each task through
Django's signals."""

from __future__ import annotations

import os
from typing import Any

import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["tasq.contrib.django"],
    TASQ={
        "BACKEND": os.environ.get("TASQ_BACKEND", "dramatiq"),
        "BROKER_URL": os.environ["TASQ_BROKER_URL"],
        "NAME": os.environ["TASQ_TEST_ENGINE"],
    },
)
django.setup()

from tasq.contrib.django import signals  # noqa: E402 - after django.setup()
from tests.backends import tasks  # noqa: E402, F401 - the functions the worker runs
from tests.backends.recording import EventLog  # noqa: E402

events = EventLog(os.environ["TASQ_TEST_EVENTS"])


def on_started(sender: Any, task_id: int, **named: Any) -> None:
    events.write("signal_started", task_id, sender=type(sender).__name__)


def on_done(sender: Any, task_id: int, **named: Any) -> None:
    events.write("signal_done", task_id)
    events.write("on_done", task_id)


signals.task_started.connect(on_started, weak=False)
signals.task_done.connect(on_done, weak=False)
