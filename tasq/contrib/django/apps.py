from __future__ import annotations

from django.apps import AppConfig
from django.core.signals import setting_changed

from tasq.context import register_resolver

from . import get_engine, on_setting_changed


class TasQConfig(AppConfig):  # type: ignore[misc]  # Django ships no type hints
    name = "tasq.contrib.django"
    label = "tasq"
    verbose_name = "TasQ"

    def ready(self) -> None:
        from . import checks  # noqa: F401 - registers the system checks

        connect()


def connect() -> None:
    """``@background`` functions enqueue on this process's engine; nothing is made yet.

    A fallback: Django's engine answers without a context of its own (settings, not a
    request), so a framework that has one (a Flask request in the same process) goes first.
    """
    register_resolver(get_engine, fallback=True)
    setting_changed.connect(on_setting_changed, dispatch_uid="tasq.contrib.django.setting_changed")
