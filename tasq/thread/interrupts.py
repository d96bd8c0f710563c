"""Where Ctrl-C can land inside the engine, and how its state stays whole when it does.

CPython runs a Python-level signal handler (``KeyboardInterrupt`` for SIGINT, or whatever
an application's own handler raises) in the main thread only, at the points where the
interpreter looks for pending work: when a Python function starts, when a call returns,
and at the end of a loop's pass. It never lands between two other bytecodes, nor inside a
C function such as ``SimpleQueue.put``, and a C lock's ``with`` leaves no such point
between the acquire and its block. The engine keeps its state whole at every such point
in one of two ways:

- **On the paths where a microsecond counts** (``enqueue`` of a plain task, with or
  without hooks and a result store), the id is drawn with ``for task_id in ids: break``
  (``FOR_ITER`` looks for no pending work, a call to ``next`` does), and whatever runs
  between drawing the id and queueing the entry sits in a ``try`` whose ``finally``
  queues it. An interrupt landing anywhere after the id was drawn leaves the task queued:
  it runs and is reported, and only the caller, interrupted, never learns its id.
- **On the paths that change several things at once** (an enqueue with a delay, a priority,
  a time limit or a bound on the queue; ``start``; ``close`` and ``shutdown`` while they
  stop the workers and report what they cancel; ``cancel``), ``signals_held()`` puts a
  handler of its own in place of each Python-level one for the moment, notes the signals
  that arrive, and raises each again once the state is whole, so that the application's
  own handler then runs as it would have. It costs a few microseconds and is taken only
  in the main thread, where signal handlers run. It never spans a wait: ``join()``, a
  ``close()`` waiting for its workers and an enqueue waiting for room stay interruptible
  (their waits are in wakeups.py).

A signal held while user code runs inside such a path (an ``on_failed`` reporting a
cancelled task, a hook) takes effect when that path ends.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # C functions: signal.signal adds points where handlers run
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

__all__ = ["signals_held"]

# The signals whose Python handlers commonly raise: Ctrl-C's, and what servers and
# process managers send to stop a process (tasq.drain_on_sigterm() raises on SIGTERM).
_HELD = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT") if hasattr(signal, name))
_holding = False  # a hold is in place (the main thread is inside one): an inner one adds nothing


@contextmanager
def signals_held() -> Iterator[None]:
    """Hold the Python-level signal handlers off for the block; run them right after it."""
    global _holding
    if _holding or threading.get_ident() != threading.main_thread().ident:
        yield
        return
    arrived: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        arrived.append(signum)

    replaced: list[tuple[int, Any]] = []
    _holding = True
    try:
        for signum in _HELD:
            handler = _signal.getsignal(signum)
            if callable(handler):
                replaced.append((signum, handler))
                _signal.signal(signum, note)
        yield
    finally:
        _holding = False
        _restore(replaced, 0)
        for signum in arrived:
            _signal.raise_signal(signum)  # the application's handler runs now, the state whole


def _restore(replaced: list[tuple[int, Any]], index: int) -> None:
    # Each handler put back, even when the one put back before it raises at once for a
    # signal that came meanwhile: the rest go back in the finally.
    if index < len(replaced):
        try:
            _signal.signal(*replaced[index])
        finally:
            _restore(replaced, index + 1)
