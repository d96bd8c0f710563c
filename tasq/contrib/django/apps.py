from __future__ import annotations

import os
import sys

from django.apps import AppConfig
from django.core.signals import setting_changed

from tasq.context import register_resolver
from tasq.serving import start_when_serving

from . import get_engine, on_setting_changed


class TasQConfig(AppConfig):  # type: ignore[misc]  # Django ships no type hints
    name = "tasq.contrib.django"
    label = "tasq"
    verbose_name = "TasQ"

    def ready(self) -> None:
        from . import checks  # noqa: F401 - registers the system checks

        connect()
        # The engine starts where the project is served, so that periodic tasks run in an idle
        # app: in each gunicorn worker (after the fork under --preload, never in the master),
        # in runserver's serving process; under an ASGI server, at its lifespan's startup.
        if not start_when_serving(_start_engine) and _serving_with_runserver():
            _start_engine()


def connect() -> None:
    """``@background`` functions enqueue on this process's engine; nothing is made yet.

    A fallback: Django's engine answers without a context of its own (settings, not a
    request), so a framework that has one (a Flask request in the same process) goes first.
    """
    register_resolver(get_engine, fallback=True)
    setting_changed.connect(on_setting_changed, dispatch_uid="tasq.contrib.django.setting_changed")


def _start_engine() -> None:
    get_engine().start()


def _serving_with_runserver() -> bool:
    """``manage.py runserver``'s process that serves: the autoreloader's child, or the only one."""
    if len(sys.argv) < 2 or sys.argv[1] != "runserver":
        return False
    return os.environ.get("RUN_MAIN") == "true" or "--noreload" in sys.argv
