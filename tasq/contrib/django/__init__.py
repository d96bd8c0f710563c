"""Django: ``INSTALLED_APPS += ["tasq.contrib.django"]``, options in ``settings.TASQ``.

The process has one engine, made from ``settings.TASQ`` on first use (no thread starts at
import or ``django.setup()``, so ``gunicorn --preload`` is safe), used by ``@background``
functions and by the Django Tasks backend, and drained when the process exits.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from tasq import TasQ, lifecycle
from tasq.worker_exit import drain_at_worker_exit

from .conf import engine_options, instruments
from .hooks import DjangoHooks

__all__ = ["get_engine"]

_engine: TasQ | None = None
_lock = threading.Lock()
_shut_down = False  # the server shut the engine down for good: no new one after that


def get_engine() -> TasQ:
    """The process's engine, made from ``settings.TASQ`` on first use; it starts with its first task.

    Once closed it is made anew on next use, except once the server shut it down (see
    ``tasq.contrib.django.asgi``) or while the interpreter exits: then it stays closed, and
    enqueueing raises ``TasQClosed`` rather than starting a pool nobody would drain.
    """
    engine = _engine
    if engine is None or engine.closed:
        engine = _make_engine()
    return engine


def _make_engine() -> TasQ:
    global _engine
    with _lock:
        if _engine is None or (_engine.closed and not _shut_down and not lifecycle.exiting()):
            engine = TasQ(**{**engine_options(), "autostart": True})  # engine_options() names a bad key
            engine.add_hooks(DjangoHooks(engine))
            _instrument(engine)
            drain_at_worker_exit(engine)
            _engine = engine
        return _engine


def _instrument(engine: TasQ) -> None:
    """``TASQ["METRICS"]`` and ``["TRACING"]``: the instruments are the layer below the integrations."""
    chosen = instruments()
    if chosen.metrics:  # served by path("metrics", tasq.contrib.django.metrics.metrics)
        from tasq.contrib import prometheus

        prometheus.instrument(engine)
    if chosen.tracing:
        from tasq.contrib import opentelemetry

        opentelemetry.instrument(engine)


def on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    """``override_settings(TASQ=...)``: close the engine (running what it holds), make it anew."""
    global _engine
    if setting != "TASQ":
        return
    with _lock:
        engine, _engine = _engine, None
    if engine is not None:
        engine.close(timeout=engine.shutdown_timeout)


def shut_down(reason: str) -> None:
    """The server is shutting down: drain the engine, report the rest cancelled, make no new one."""
    global _shut_down
    with _lock:
        _shut_down = True
        engine = _engine
    if engine is not None:
        engine.shutdown(reason)


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # another thread may have held it at fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
