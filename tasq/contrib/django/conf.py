"""``settings.TASQ`` -> the keyword arguments of ``tasq.TasQ``, with errors that name the key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from tasq.options import (
    INSTRUMENT_NAMES,
    SETTINGS,
    Instruments,
    defaults,
    from_settings,
    instruments_from_settings,
    vars_of,
)

__all__ = ["DASHBOARD", "DEFAULTS", "INSTRUMENTS", "dashboard_option", "engine_options", "instruments", "validate"]

# settings.TASQ key -> default: "<OPTION>" for each engine option an app sets.
DEFAULTS: dict[str, object] = {name.upper(): defaults()[name] for name in SETTINGS} | {"NAME": "django"}
# settings.TASQ keys of the dashboard (tasq.contrib.django.urls), not given to the engine.
DASHBOARD: dict[str, object] = {"DASHBOARD_SHOW_ARGS": True}
# "METRICS" and "TRACING", True or False (see tasq.options.Instruments): what the integration adds.
INSTRUMENTS: dict[str, object] = {name.upper(): False for name in INSTRUMENT_NAMES}
_CALLBACKS = ("ON_DONE", "ON_FAILED")  # a callable, or its dotted path


def engine_options() -> dict[str, Any]:
    """The options ``settings.TASQ`` gives the engine, each checked; ``ImproperlyConfigured``
    names a bad key. No engine is made and no broker is reached."""
    configured = getattr(settings, "TASQ", {})
    if not isinstance(configured, Mapping):
        raise ImproperlyConfigured(f"settings.TASQ must be a dict, not {type(configured).__name__}")
    extra = {**DASHBOARD, **INSTRUMENTS}
    unknown = sorted(str(key) for key in configured if key not in DEFAULTS and key not in extra)
    if unknown:
        raise ImproperlyConfigured(f"settings.TASQ: unknown key(s) {unknown}; known: {[*DEFAULTS, *extra]}")
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


def instruments() -> Instruments:
    """``settings.TASQ["METRICS"]`` and ``["TRACING"]``, each True or False; the view
    ``tasq.contrib.django.metrics.metrics`` serves the metrics wherever the URLconf routes it."""
    configured = getattr(settings, "TASQ", {})
    values = {key.lower(): configured.get(key, default) for key, default in INSTRUMENTS.items()}
    if isinstance(values["metrics"], str):
        raise ImproperlyConfigured(
            "settings.TASQ['METRICS']: True or False; route tasq.contrib.django.metrics.metrics in your URLconf"
        )
    try:
        return instruments_from_settings(values, key=lambda name: f"settings.TASQ[{name.upper()!r}]")
    except (TypeError, ValueError) as error:
        raise ImproperlyConfigured(str(error)) from error


def dashboard_option(key: str) -> Any:
    """A dashboard setting from ``settings.TASQ``, checked."""
    configured = getattr(settings, "TASQ", {})
    value = configured.get(key, DASHBOARD[key]) if isinstance(configured, Mapping) else DASHBOARD[key]
    if key == "DASHBOARD_SHOW_ARGS" and not isinstance(value, bool):
        raise ImproperlyConfigured(f"settings.TASQ[{key!r}] must be True or False, not {value!r}")
    return value


def validate() -> dict[str, Any]:
    """Check every value as the engine would, without making it: no thread, no broker connection."""
    options = engine_options()  # first: it names a TASQ that is not a dict
    instruments()
    return options
