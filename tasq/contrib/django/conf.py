"""``settings.TASQ`` -> the keyword arguments of ``tasq.TasQ``, with errors that name the key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from tasq import TasQ
from tasq.backends import engine_class

__all__ = ["DEFAULTS", "OPERATIONS", "engine_options", "operations", "validate"]

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
# settings.TASQ key -> default, for what the integration adds besides the engine's options.
OPERATIONS: dict[str, bool] = {"METRICS": False, "TRACING": False}
_CALLBACKS = ("ON_DONE", "ON_FAILED")  # a callable, or its dotted path
_DISTRIBUTED = ("BACKEND", "BROKER_URL")  # checked together, by the backend's engine class


def engine_options() -> dict[str, Any]:
    """The options ``settings.TASQ`` gives the engine; ``ImproperlyConfigured`` names a bad key."""
    configured = getattr(settings, "TASQ", {})
    if not isinstance(configured, Mapping):
        raise ImproperlyConfigured(f"settings.TASQ must be a dict, not {type(configured).__name__}")
    unknown = sorted(str(key) for key in configured if key not in DEFAULTS and key not in OPERATIONS)
    if unknown:
        raise ImproperlyConfigured(f"settings.TASQ: unknown key(s) {unknown}; known: {[*DEFAULTS, *OPERATIONS]}")
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


def operations() -> dict[str, bool]:
    """``settings.TASQ["METRICS"]`` and ``["TRACING"]``, each True or False."""
    configured = getattr(settings, "TASQ", {})
    chosen = {key: configured.get(key, default) for key, default in OPERATIONS.items()}
    for key, value in chosen.items():
        if not isinstance(value, bool):
            raise ImproperlyConfigured(f"settings.TASQ[{key!r}]: True or False, not {value!r}")
    return chosen


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
