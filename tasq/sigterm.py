"""``drain_on_sigterm()``: SIGTERM ends the process the way Ctrl-C does, through the exit drain.

Outside gunicorn and uvicorn (which turn SIGTERM into a graceful stop), a plain script,
``manage.py runserver`` or a container's main process dies on SIGTERM (``docker stop``)
without running ``atexit``: every pending task is lost unreported. With this handler the
signal raises ``SystemExit(143)`` in the main thread instead, so the interpreter exits
normally and each engine drains within its ``shutdown_timeout``.

The handler does nothing but raise: it takes no lock and touches no engine, so it is safe
whatever the main thread was doing (the drain runs after the main thread has unwound).
A Python handler installed before is called first; if it returns, the exit goes on.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

__all__ = ["drain_on_sigterm"]

_EXIT_CODE = 128 + signal.SIGTERM  # what a shell reports for a process ended by SIGTERM


class _Handler:
    """The installed handler, holding the one it chains to."""

    def __init__(self, previous: Any) -> None:
        self.previous = previous

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if callable(self.previous):
            self.previous(signum, frame)
        raise SystemExit(_EXIT_CODE)


def drain_on_sigterm() -> None:
    """Make SIGTERM exit through the exit drain (every engine's ``shutdown()``), chaining the
    handler already installed. Call it once from the main thread, at start-up; again is harmless.
    """
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("drain_on_sigterm() must be called from the main thread: signal handlers live there")
    current = signal.getsignal(signal.SIGTERM)
    if isinstance(current, _Handler):
        return
    signal.signal(signal.SIGTERM, _Handler(current))
