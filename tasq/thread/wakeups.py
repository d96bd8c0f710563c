"""Waiting until another thread says something changed, whatever a signal handler raises meanwhile.

``join()`` and an enqueue that waits for room block in the caller's thread, which is often
the main thread, where Ctrl-C's ``KeyboardInterrupt`` (or whatever a signal handler raises)
lands between two bytecodes. ``threading.Condition`` is Python code: an exception landing
in its ``__enter__`` just after the lock was taken leaves the lock held for good, and one
landing in ``wait`` just after the lock was let go makes the ``with`` around it fail to
release a lock it no longer holds.

``Waiters`` holds no shared lock while a thread waits: each waiting thread blocks on a lock
of its own, registered before it looks at what it waits for (so no wake-up is missed
between the look and the wait), and ``wake_all`` releases every registered one. A C lock's
``with`` leaves no instruction between the acquire and the block, so wherever an exception
lands, no lock stays held; a waiter it leaves registered is released by a later
``wake_all`` and harms no one. The lock is re-entrant: a signal handler that calls the
engine while the main thread is in here must not wait for itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..checks import remaining

__all__ = ["Waiters"]

_allocate_lock = threading.Lock


class Waiters:
    """The threads waiting for a condition another thread makes true, woken together."""

    __slots__ = ("_lock", "waiting")

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.waiting: list[threading.Lock] = []  # one lock per waiting thread; empty: nobody waits

    def wait_for(self, ready: Callable[[], bool], deadline: float | None) -> bool:
        """Wait until ``ready()`` (True) or the ``time.monotonic()`` ``deadline`` (False)."""
        while True:
            waiter = _allocate_lock()
            waiter.acquire()
            try:
                with self._lock:
                    self.waiting.append(waiter)
                if ready():
                    return True
                left = remaining(deadline)
                if left is not None and left <= 0:
                    return False
                waiter.acquire(True, -1 if left is None else left)
            finally:
                with self._lock:
                    if waiter in self.waiting:
                        self.waiting.remove(waiter)

    def wake_all(self) -> None:
        """Wake every waiting thread: each looks again at what it waits for."""
        with self._lock:
            for waiter in self.waiting:
                if waiter.locked():
                    waiter.release()
