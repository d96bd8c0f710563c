"""``settings.TASQ`` -> the keyword arguments of ``tasq.TasQ``, with errors that name the key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from tasq import TasQ
from tasq.backends import engine_class

__all__ = ["DASHBOARD", "DEFAULTS", "dashboard_option", "engine_options", "validate"]

# settings.TASQ key -> default; each is the engine option of the same name, lower-cased.
DEFAULTS: dict[str, object] = {
    "WORKERS": 10,
    "MAX_RETRY": 3,
    "RETRY_DELAY": 0.0,
    "QUEUE_SIZE": 0,
    "ON_FULL": "block",
    "ON_DONE": None,
    "ON_FAILED": None,
    "RESULTS": 0,
    "NAME": "django",
    "EAGER": False,
    "SHUTDOWN_TIMEOUT": 25.0,
    "BACKEND": "thread",
    "BROKER_URL": None,
}
# settings.TASQ keys of the dashboard (tasq.contrib.django.urls), not given to the engine.
DASHBOARD: dict[str, object] = {"DASHBOARD_SHOW_ARGS": True}
_CALLBACKS = ("ON_DONE", "ON_FAILED")  # a callable, or its dotted path
_DISTRIBUTED = ("BACKEND", "BROKER_URL")  # checked together, by the backend's engine class


def engine_options() -> dict[str, Any]:
    """The options ``settings.TASQ`` gives the engine; ``ImproperlyConfigured`` names a bad key."""
    configured = getattr(settings, "TASQ", {})
    if not isinstance(configured, Mapping):
        raise ImproperlyConfigured(f"settings.TASQ must be a dict, not {type(configured).__name__}")
    unknown = sorted(str(key) for key in configured if key not in DEFAULTS and key not in DASHBOARD)
    if unknown:
        raise ImproperlyConfigured(f"settings.TASQ: unknown key(s) {unknown}; known: {[*DEFAULTS, *DASHBOARD]}")
    options: dict[str, Any] = {}
    for key, default in DEFAULTS.items():
        value = configured.get(key, default)
        if key in _CALLBACKS and isinstance(value, str):
            try:
                value = import_string(value)
            except ImportError as error:
                raise ImproperlyConfigured(f"settings.TASQ[{key!r}]: {error}") from error
        options[key.lower()] = value
    return options


def dashboard_option(key: str) -> Any:
    """A dashboard setting from ``settings.TASQ``, checked."""
    configured = getattr(settings, "TASQ", {})
    value = configured.get(key, DASHBOARD[key]) if isinstance(configured, Mapping) else DASHBOARD[key]
    if key == "DASHBOARD_SHOW_ARGS" and not isinstance(value, bool):
        raise ImproperlyConfigured(f"settings.TASQ[{key!r}] must be True or False, not {value!r}")
    return value


def validate() -> dict[str, Any]:
    """Check every value as the engine would, without making it: no thread, no broker connection."""
    options = engine_options()
    for key in DEFAULTS:
        if key in _DISTRIBUTED:
            continue
        try:
            # A throwaway engine starts no thread and holds nothing once closed.
            TasQ(**{key.lower(): options[key.lower()]}).close()
        except (TypeError, ValueError) as error:
            raise ImproperlyConfigured(f"settings.TASQ[{key!r}]: {error}") from error
    try:
        if options["backend"] != "thread":
            engine_class(options["backend"])
        elif options["broker_url"] is not None:
            raise ValueError("BROKER_URL needs a distributed BACKEND, e.g. 'dramatiq'")
    except (ImportError, TypeError, ValueError) as error:
        raise ImproperlyConfigured(f"settings.TASQ['BACKEND']: {error}") from error
    return options
