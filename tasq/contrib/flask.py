"""Flask: one engine per app, each task in its app's context, blinker signals, drained at exit."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from blinker import Namespace
from flask import Flask

# The ContextVar behind current_app (Flask >= 2.2): reading it directly costs a tenth of
# what the current_app proxy does, and @background reads it on every enqueue.
from flask.globals import _cv_app

import tasq
from tasq.context import register_resolver
from tasq.exceptions import RetryTask
from tasq.options import (
    INSTRUMENT_NAMES,
    SETTINGS,
    Instruments,
    defaults,
    from_settings,
    instruments_from_settings,
    vars_of,
)
from tasq.serving import start_when_serving
from tasq.worker_exit import drain_at_worker_exit

from .flask_dashboard import DASHBOARD_KEYS, init_dashboard

__all__ = ["FlaskTasQ", "TasQ", "task_done", "task_enqueued", "task_failed", "task_retried", "task_started"]

logger = logging.getLogger(__name__)
_debugging = logger.isEnabledFor
_DEBUG = logging.DEBUG

T = TypeVar("T")

_signals = Namespace()
task_enqueued = _signals.signal("tasq.task-enqueued")
task_started = _signals.signal("tasq.task-started")
task_retried = _signals.signal("tasq.task-retried")
task_done = _signals.signal("tasq.task-done")
task_failed = _signals.signal("tasq.task-failed")

# app.config key -> default: TASQ_<OPTION> for each engine option an app sets (TASQ_NAME's
# default is the app's name).
DEFAULTS: dict[str, object] = {f"TASQ_{name.upper()}": defaults()[name] for name in SETTINGS if name != "name"}
# TASQ_METRICS (True, or the path that serves them) and TASQ_TRACING: see tasq.options.Instruments.
INSTRUMENTS: dict[str, object] = {f"TASQ_{name.upper()}": False for name in INSTRUMENT_NAMES}


class FlaskTasQ:
    """The Flask extension, imported as ``tasq.contrib.flask.TasQ``: ``TasQ(app)``, or ``TasQ()``
    then ``init_app(app)`` per app.

    Each app gets its own engine in ``app.extensions["tasq"]``; this object enqueues on the
    engine of the app in the current context, so one instance serves every app.
    """

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> tasq.TasQ:
        """Build ``app``'s engine from its config. It starts in each gunicorn worker as the app
        loads (after the fork under ``--preload``; never in the master), else with its first
        task or ``app.extensions["tasq"].start()``."""
        if "tasq" in app.extensions:
            raise RuntimeError(
                f"TasQ is already registered on app {app.name!r}: call init_app(app) once per app"
                " (TasQ(app) already calls it)"
            )
        for key, default in {**DEFAULTS, **INSTRUMENTS}.items():
            app.config.setdefault(key, default)
        app.config.setdefault("TASQ_NAME", app.name)
        engine = _make_engine(app)
        instruments = instruments_from_settings(
            {name: app.config[f"TASQ_{name.upper()}"] for name in INSTRUMENT_NAMES},
            key=lambda name: f"app {app.name!r}, TASQ_{name.upper()}",
        )
        engine.add_hooks(_FlaskHooks(app))
        init_dashboard(app, engine)
        _instrument(app, engine, instruments)
        app.extensions["tasq"] = engine
        drain_at_worker_exit(engine)
        # In each gunicorn worker (after the fork under --preload), so that periodic tasks
        # run in an idle app; under another server the app calls engine.start() itself.
        start_when_serving(engine.start)
        return engine

    @property
    def engine(self) -> tasq.TasQ:
        """The engine of the app in the current context."""
        context = _cv_app.get(None)
        if context is None:
            raise RuntimeError("TasQ needs an app context to find its engine: use it in a request or app_context()")
        engine = context.app.extensions.get("tasq")
        if not isinstance(engine, tasq.TasQ):
            raise RuntimeError(f"TasQ is not registered on app {context.app.name!r}: call init_app(app) first")
        return engine

    def enqueue(
        self,
        task: object,
        *,
        delay: float | timedelta | datetime | None = None,
        priority: int | None = None,
        timeout: float | None = None,
    ) -> int:
        """``engine.enqueue()`` on the current app's engine: returns the task id."""
        return self.engine.enqueue(task, delay=delay, priority=priority, timeout=timeout)

    def submit(self, fn: Callable[..., object], /, *args: Any, **kwargs: Any) -> int:
        """``engine.submit()`` on the current app's engine: ``fn(*args, **kwargs)`` in the background."""
        return self.engine.submit(fn, *args, **kwargs)


# The name apps import it by; FlaskTasQ is the class's own name, distinct from the engine's.
TasQ = FlaskTasQ


def _make_engine(app: Flask) -> tasq.TasQ:
    config = app.config
    known = [f"TASQ_{name.upper()}" for name in SETTINGS] + list(INSTRUMENTS)
    accepted = {*known, *DASHBOARD_KEYS}
    unknown = sorted(key for key in config if key.startswith("TASQ_") and key not in accepted)
    if unknown:
        raise ValueError(f"unknown TasQ setting(s) {unknown} in the config of app {app.name!r}; known: {known}")
    values = {name: config[f"TASQ_{name.upper()}"] for name in SETTINGS}
    options = from_settings(values, key=lambda name: f"app {app.name!r}, TASQ_{name.upper()}")
    return tasq.TasQ(**{**vars_of(options), "autostart": True})


def _instrument(app: Flask, engine: tasq.TasQ, instruments: Instruments) -> None:
    """TASQ_METRICS and TASQ_TRACING, each from its extra (``tasq-worker[prometheus]``, ...).

    The instruments are the layer below the integrations (see the import contracts)."""
    if instruments.metrics:
        from flask import Response

        from tasq.contrib import prometheus

        prometheus.instrument(engine)

        def serve_metrics() -> Response:
            return Response(prometheus.scrape(), content_type=prometheus.CONTENT_TYPE)

        path = "/metrics" if instruments.metrics is True else instruments.metrics
        app.add_url_rule(path, "tasq_metrics", serve_metrics)
    if instruments.tracing:
        from tasq.contrib import opentelemetry

        opentelemetry.instrument(engine)


class _FlaskHooks(tasq.Hooks):
    """Runs each task in its app's context and turns the engine's events into signals and logs."""

    def __init__(self, app: Flask) -> None:
        # Weak: the engine lives until it is closed, and must not keep a dropped app alive.
        self.app = weakref.ref(app)

    def _app(self) -> Flask:
        app = self.app()
        if app is None:
            raise RuntimeError("the Flask app of this task no longer exists")
        return app

    def after_enqueue(self, task_id: int) -> None:
        if _debugging(_DEBUG):  # checked first: this runs inside every enqueue
            logger.debug("task %d enqueued", task_id, extra={"task_id": task_id})
        if task_enqueued.receivers:
            task_enqueued.send(self._app(), task_id=task_id)

    def around_task(self, task_id: int, call: Callable[[], T]) -> T:
        app = self.app()
        if app is None:
            raise RuntimeError("the Flask app of this task no longer exists")
        # A fresh app context, never the request's: that request is over (Flask-Executor's bug).
        with app.app_context():
            if _debugging(_DEBUG):
                logger.debug("task %d started", task_id, extra={"task_id": task_id})
            if task_started.receivers:
                _send_guarded(task_started, app, task_id)
            return call()

    def around_coroutine(self, task_id: int, coro: Awaitable[T]) -> Awaitable[T]:
        return _in_app_context(self._app(), coro)

    def after_retry(self, task_id: int, error: RetryTask) -> None:
        if task_retried.receivers:
            task_retried.send(self._app(), task_id=task_id, error=error)

    def after_done(self, task_id: int, return_value: object) -> None:
        if _debugging(_DEBUG):
            logger.debug("task %d done", task_id, extra={"task_id": task_id})
        if task_done.receivers:
            task_done.send(self._app(), task_id=task_id)

    def after_failed(self, task_id: int, error: BaseException) -> None:
        # The engine logs failures (ERROR, with the traceback) and cancellations itself.
        if task_failed.receivers:
            task_failed.send(self.app(), task_id=task_id, error=error)


async def _in_app_context(app: Flask, coro: Awaitable[T]) -> T:
    with app.app_context():
        return await coro


def _send_guarded(signal_: Any, app: Flask, task_id: int) -> None:
    # A broken receiver is the receiver's bug: it must not fail the task it watches.
    try:
        signal_.send(app, task_id=task_id)
    except Exception:
        logger.exception("a task_started receiver raised for task %d", task_id, extra={"task_id": task_id})


def _app_engine() -> tasq.TasQ | None:
    context = _cv_app.get(None)
    if context is None:
        return None
    engine = context.app.extensions.get("tasq")
    return engine if isinstance(engine, tasq.TasQ) else None


register_resolver(_app_engine)
