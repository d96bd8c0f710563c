"""System checks (``manage.py check``, ``runserver``, ``migrate``): settings.TASQ and TASKS."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, register
from django.core.exceptions import ImproperlyConfigured

from .conf import validate

__all__ = ["check_settings", "settings_messages"]

BACKEND_PATH = "tasq.contrib.django.backend.TasQBackend"


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if not apps.is_installed("tasq.contrib.django"):
        return []  # only TasQBackend is configured: its own check() reports
    return settings_messages()


def settings_messages() -> list[CheckMessage]:
    try:
        options = validate()
    except ImproperlyConfigured as error:
        return [Error(str(error), hint="See the Django section of the TasQ README: Configuration.", id="tasq.E001")]
    tasks = getattr(settings, "TASKS", None)
    configs = tasks.items() if isinstance(tasks, dict) else []
    aliases = [alias for alias, config in configs if isinstance(config, dict) and config.get("BACKEND") == BACKEND_PATH]
    if aliases and options["backend"] != "thread":
        return [
            Error(
                f"TASKS {aliases} use TasQBackend, which runs Django tasks on this process's engine"
                f" and keeps their results here: it needs settings.TASQ['BACKEND'] = 'thread',"
                f" not {options['backend']!r}.",
                hint="Use @background functions for the distributed backend.",
                id="tasq.E002",
            )
        ]
    if aliases and options.get("store") is not None:
        return [
            Error(
                f"TASKS {aliases} use TasQBackend, which keeps Django tasks and their results in this"
                " process's memory: it cannot be used with settings.TASQ['STORE'].",
                hint="Use @background functions with a store: they survive a crash and restart.",
                id="tasq.E002",
            )
        ]
    return []


register(check_settings)
