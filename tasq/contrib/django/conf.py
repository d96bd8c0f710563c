"""``settings.TASQ`` -> the keyword arguments of ``tasq.TasQ``, with errors that name the key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from tasq.options import SETTINGS, defaults, from_settings, vars_of

__all__ = ["DASHBOARD", "DEFAULTS", "dashboard_option", "engine_options", "validate"]

# settings.TASQ key -> default: "<OPTION>" for each engine option an app sets.
DEFAULTS: dict[str, object] = {name.upper(): defaults()[name] for name in SETTINGS} | {"NAME": "django"}
# settings.TASQ keys of the dashboard (tasq.contrib.django.urls), not given to the engine.
DASHBOARD: dict[str, object] = {"DASHBOARD_SHOW_ARGS": True}
_CALLBACKS = ("ON_DONE", "ON_FAILED")  # a callable, or its dotted path


def engine_options() -> dict[str, Any]:
    """The options ``settings.TASQ`` gives the engine, each checked; ``ImproperlyConfigured``
    names a bad key. No engine is made and no broker is reached."""
    configured = getattr(settings, "TASQ", {})
    if not isinstance(configured, Mapping):
        raise ImproperlyConfigured(f"settings.TASQ must be a dict, not {type(configured).__name__}")
    unknown = sorted(str(key) for key in configured if key not in DEFAULTS and key not in DASHBOARD)
    if unknown:
        raise ImproperlyConfigured(f"settings.TASQ: unknown key(s) {unknown}; known: {[*DEFAULTS, *DASHBOARD]}")
    values: dict[str, Any] = {}
    for key, default in DEFAULTS.items():
        value = configured.get(key, default)
        if key in _CALLBACKS and isinstance(value, str):
            try:
                value = import_string(value)
            except ImportError as error:
                raise ImproperlyConfigured(f"settings.TASQ[{key!r}]: {error}") from error
        values[key.lower()] = value
    try:
        options = from_settings(values, key=lambda name: f"settings.TASQ[{name.upper()!r}]")
    except (ImportError, TypeError, ValueError) as error:
        raise ImproperlyConfigured(str(error)) from error
    return vars_of(options)


def dashboard_option(key: str) -> Any:
    """A dashboard setting from ``settings.TASQ``, checked."""
    configured = getattr(settings, "TASQ", {})
    value = configured.get(key, DASHBOARD[key]) if isinstance(configured, Mapping) else DASHBOARD[key]
    if key == "DASHBOARD_SHOW_ARGS" and not isinstance(value, bool):
        raise ImproperlyConfigured(f"settings.TASQ[{key!r}] must be True or False, not {value!r}")
    return value


def validate() -> dict[str, Any]:
    """Check every value as the engine would, without making it: no thread, no broker connection."""
    return engine_options()
