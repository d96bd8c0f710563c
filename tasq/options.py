"""The engine's options, declared once: each one's default, its check and whether apps set it.

``TasQ(...)``, a broker engine, the Starlette middleware's keywords, Flask's ``TASQ_*`` keys
and Django's ``TASQ = {...}`` keys all come from ``EngineOptions``. Adding an option is one
field here (with its check in ``_CHECKS``) and one attribute where the engine reads it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Literal

from .checks import check_bool, check_callback, check_int, check_retry_delay, check_seconds, check_time_limit
from .store.url import check_sync, store_path
from .task import RetryDelay

__all__ = [
    "INSTRUMENT_NAMES",
    "OPTION_NAMES",
    "SETTINGS",
    "EngineOptions",
    "Instruments",
    "check_option",
    "defaults",
    "from_settings",
    "instruments_from_settings",
    "vars_of",
]

OnDone = Callable[[int], object]
OnFailed = Callable[[int, BaseException], object]

_APP = {"setting": True}  # an option an app's configuration sets (autostart is the integration's)


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineOptions:
    """Every option of an engine, checked field by field as it is made."""

    workers: int = field(default=10, metadata=_APP)
    max_retry: int = field(default=3, metadata=_APP)
    retry_delay: RetryDelay = field(default=0.0, metadata=_APP)
    queue_size: int = field(default=0, metadata=_APP)
    on_full: Literal["block", "raise"] = field(default="block", metadata=_APP)
    on_done: OnDone | None = field(default=None, metadata=_APP)
    on_failed: OnFailed | None = field(default=None, metadata=_APP)
    results: int = field(default=0, metadata=_APP)
    name: str = field(default="default", metadata=_APP)
    eager: bool = field(default=False, metadata=_APP)
    autostart: bool = False
    shutdown_timeout: float | None = field(default=25.0, metadata=_APP)
    backend: str = field(default="thread", metadata=_APP)
    broker_url: str | None = field(default=None, metadata=_APP)
    time_limit: float | None = field(default=None, metadata=_APP)
    store: str | None = field(default=None, metadata=_APP)
    store_sync: Literal["normal", "full"] = field(default="normal", metadata=_APP)
    store_poll: float = field(default=1.0, metadata=_APP)
    store_lease: float = field(default=30.0, metadata=_APP)

    def __post_init__(self) -> None:
        for name in OPTION_NAMES:
            object.__setattr__(self, name, check_option(name, getattr(self, name)))


def _check_on_full(value: object) -> object:
    if value not in ("block", "raise"):
        raise ValueError(f'on_full must be "block" or "raise", not {value!r}')
    return value


def _check_name(value: object) -> object:
    if not isinstance(value, str) or not value:
        raise TypeError(f"name must be a non-empty str, not {value!r}")
    return value


def _check_optional_seconds(name: str) -> Callable[[object], object]:
    return lambda value: None if value is None else check_seconds(name, value)


def _check_str(name: str, optional: bool) -> Callable[[object], object]:
    def check(value: object) -> object:
        if (value is None and optional) or isinstance(value, str):
            return value
        raise TypeError(f"{name} must be a str{' or None' if optional else ''}, not {type(value).__name__}")

    return check


def _check_store(value: object) -> object:
    if value is not None:
        store_path(value)  # the URL's form; the file itself is opened at start()
    return value


def _check_positive_seconds(name: str) -> Callable[[object], object]:
    def check(value: object) -> object:
        seconds = check_seconds(name, value)
        if seconds <= 0:
            raise ValueError(f"{name} must be > 0 seconds, not {value!r}")
        return seconds

    return check


# Each check returns the value to keep or raises TypeError/ValueError whose message names the option.
_CHECKS: dict[str, Callable[[object], object]] = {
    "workers": lambda value: check_int("workers", value, minimum=1),
    "max_retry": lambda value: check_int("max_retry", value, minimum=1),
    "retry_delay": check_retry_delay,
    "queue_size": lambda value: check_int("queue_size", value, minimum=0),
    "on_full": _check_on_full,
    "on_done": lambda value: check_callback("on_done", value),
    "on_failed": lambda value: check_callback("on_failed", value),
    "results": lambda value: check_int("results", value, minimum=0),
    "name": _check_name,
    "eager": lambda value: check_bool("eager", value),
    "autostart": lambda value: check_bool("autostart", value),
    "shutdown_timeout": _check_optional_seconds("shutdown_timeout"),
    "backend": _check_str("backend", optional=False),
    "broker_url": _check_str("broker_url", optional=True),
    "time_limit": lambda value: check_time_limit("time_limit", value),
    "store": _check_store,
    "store_sync": check_sync,
    "store_poll": _check_positive_seconds("store_poll"),
    "store_lease": _check_positive_seconds("store_lease"),
}

OPTION_NAMES: tuple[str, ...] = tuple(f.name for f in fields(EngineOptions))
# The options an app's configuration sets, lower-case (Flask: TASQ_<UPPER>, Django: "<UPPER>").
SETTINGS: tuple[str, ...] = tuple(f.name for f in fields(EngineOptions) if f.metadata.get("setting"))
assert set(_CHECKS) == set(OPTION_NAMES), "each option has its check"


def check_option(name: str, value: object) -> Any:
    """``value`` as option ``name`` keeps it; TypeError/ValueError if it is not one."""
    return _CHECKS[name](value)


def vars_of(options: EngineOptions) -> dict[str, Any]:
    """The options as the keyword arguments of ``TasQ(...)``."""
    return {name: getattr(options, name) for name in OPTION_NAMES}


def defaults() -> dict[str, Any]:
    """Each option's default."""
    return {f.name: f.default for f in fields(EngineOptions) if f.default is not MISSING}


def from_settings(values: Mapping[str, object], key: Callable[[str], str]) -> EngineOptions:
    """The options an app's settings give, each checked: a bad one raises the TypeError or
    ValueError of its check, its message prefixed with ``key(option)`` (the app's name for it).

    The backend is looked up too (a missing package is an ``ImportError`` under the backend's
    key), and its own checks of the other options (a broker URL it cannot use) are reported
    under the key of the option they concern.
    """
    unknown = sorted(set(values) - set(OPTION_NAMES))
    if unknown:
        raise TypeError(f"unknown option(s) {unknown}; known: {list(OPTION_NAMES)}")
    checked: dict[str, Any] = {}
    for name, value in values.items():
        try:
            checked[name] = check_option(name, value)
        except (TypeError, ValueError) as error:
            raise type(error)(f"{key(name)}: {error}") from None
    options = EngineOptions(**checked)
    from .engine import engine_class  # the contract's registry of engines, by name

    try:
        engine = engine_class(options.backend, options.store)
    except (ImportError, TypeError, ValueError) as error:
        which = "store" if options.store is not None and options.backend != "thread" else "backend"
        raise type(error)(f"{key(which)}: {error}") from None
    for name, refusal in engine.refused_options(options):
        raise type(refusal)(f"{key(name)}: {refusal}") from None
    return options


@dataclass(frozen=True, slots=True, kw_only=True)
class Instruments:
    """What an integration adds to its engine, set beside the engine's options: Flask's
    ``TASQ_METRICS``/``TASQ_TRACING``, Django's ``TASQ["METRICS"]``/``["TRACING"]``,
    Starlette's ``metrics=``/``tracing=``. The engine itself never reads them."""

    metrics: bool | str = False  # Prometheus (tasq.contrib.prometheus); a path: where Flask serves it
    tracing: bool = False  # OpenTelemetry spans (tasq.contrib.opentelemetry)


def _check_metrics(value: object) -> object:
    if isinstance(value, bool) or (isinstance(value, str) and value.startswith("/")):
        return value
    raise ValueError(f"metrics must be True, False or a path like '/metrics', not {value!r}")


_INSTRUMENT_CHECKS: dict[str, Callable[[object], object]] = {
    "metrics": _check_metrics,
    "tracing": lambda value: check_bool("tracing", value),
}
INSTRUMENT_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Instruments))
assert set(_INSTRUMENT_CHECKS) == set(INSTRUMENT_NAMES), "each instrument has its check"


def instruments_from_settings(values: Mapping[str, object], key: Callable[[str], str]) -> Instruments:
    """The instruments an app's settings turn on, each checked; a bad value's error is
    prefixed with ``key(name)``, as ``from_settings`` does."""
    checked: dict[str, Any] = {}
    for name, value in values.items():
        if name not in _INSTRUMENT_CHECKS:
            raise TypeError(f"unknown instrument {name!r}; known: {list(INSTRUMENT_NAMES)}")
        try:
            checked[name] = _INSTRUMENT_CHECKS[name](value)
        except (TypeError, ValueError) as error:
            raise type(error)(f"{key(name)}: {error}") from None
    return Instruments(**checked)
