"""``time_limit``: an attempt that outlives its limit fails with ``TimeLimitExceeded``.

A task with a limit is queued as a ``Limited`` call, so the worker loops run it like any
other call and pay nothing for tasks without one. ``Limited`` registers the attempt with
the engine's ``Watchdog`` (one thread, started by the first limited attempt, sleeping until
the next deadline) and unregisters it when the call returns or raises.

- A plain task: when its deadline passes, the watchdog raises ``TimeLimitExceeded`` inside
  the worker's thread (``PyThreadState_SetAsyncExc``, as Dramatiq's ``TimeLimit`` middleware
  does). It lands at the thread's next Python instruction: a blocking C call
  (``time.sleep``, a socket read, a lock wait) finishes first. A task that catches it (a
  bare ``except``) goes on running.
- An ``async def`` task: its coroutine runs under ``asyncio.timeout``, which cancels it
  (``Task.cancel()`` on the engine's loop) at the deadline; it fails with ``TimeLimitExceeded``.

No stray exception after the attempt: the watchdog raises only under its lock and only for
an attempt still running, and ``Limited`` marks its attempt over under the same lock; if the
exception was raised and has not landed yet, ``Limited`` clears it before it returns. The
one window left: an exception raised just as the task returns may land in ``Limited``'s own
code, after the task's last instruction and before the attempt is marked over; then the
attempt fails with ``TimeLimitExceeded`` although its call had returned (its deadline had
passed). It never lands in the worker's loop, in a hook after the attempt, or in another task.
"""

from __future__ import annotations

import asyncio
import ctypes
import heapq
import itertools
import threading
import time
from collections.abc import Awaitable
from types import CoroutineType

from ..exceptions import TimeLimitExceeded
from .entry import Call

__all__ = ["Limited", "Watchdog", "limited"]

# int PyThreadState_SetAsyncExc(unsigned long id, PyObject *exc); exc NULL clears a pending one.
_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_CoroutineType = CoroutineType


class _Attempt:
    __slots__ = ("deadline", "fired", "over", "thread_id")

    def __init__(self, thread_id: int, deadline: float) -> None:
        self.thread_id = thread_id
        self.deadline = deadline
        self.over = False
        self.fired = False


class Watchdog:
    """One thread per engine that ends attempts past their deadline (see the module)."""

    def __init__(self, name: str) -> None:
        self._name = name
        # begin/end take the plain lock: a C lock's ``with`` leaves no instruction between the
        # acquire and the block where an exception landing would leave the lock held (a
        # Condition's ``__enter__`` is Python code). The watchdog thread waits on the condition.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._heap: list[tuple[float, int, _Attempt]] = []
        self._seq = itertools.count()
        self._over = 0  # attempts in the heap already over: dropped when they are the most
        self._thread: threading.Thread | None = None
        self._stopped = False

    def begin(self, seconds: float) -> _Attempt:
        """Watch an attempt of the calling thread for ``seconds``."""
        attempt = _Attempt(threading.get_ident(), time.monotonic() + seconds)
        with self._lock:
            heapq.heappush(self._heap, (attempt.deadline, next(self._seq), attempt))
            if self._thread is None and not self._stopped:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            elif self._heap[0][2] is attempt:
                self._cond.notify()
        return attempt

    def end(self, attempt: _Attempt) -> bool:
        """The attempt is over; True if its limit ran out. A raised exception that has not
        landed yet is cleared: nothing lands after this returns."""
        with self._lock:
            attempt.over = True
            if not attempt.fired:
                self._over += 1
                if self._over > 64 and self._over * 2 > len(self._heap):
                    self._heap = [item for item in self._heap if not item[2].over]
                    heapq.heapify(self._heap)
                    self._over = 0
                return False
        _clear(attempt.thread_id)
        return True

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _run(self) -> None:
        cond = self._cond
        with cond:
            while not self._stopped:
                heap = self._heap
                if not heap:
                    cond.wait()
                    continue
                deadline, _, attempt = heap[0]
                if attempt.over:
                    heapq.heappop(heap)
                    self._over -= 1
                    continue
                wait = deadline - time.monotonic()
                if wait > 0:
                    cond.wait(wait)
                    continue
                heapq.heappop(heap)
                attempt.fired = True  # under the lock, for an attempt still running
                _set_async_exc(ctypes.c_ulong(attempt.thread_id), ctypes.py_object(TimeLimitExceeded))


def _clear(thread_id: int) -> None:
    _set_async_exc(ctypes.c_ulong(thread_id), None)


class Limited:
    """A task's call under a time limit: what the worker runs instead of the call itself."""

    __slots__ = ("call", "seconds", "watchdog")

    def __init__(self, call: Call, seconds: float, watchdog: Watchdog) -> None:
        self.call = call
        self.seconds = seconds
        self.watchdog = watchdog

    def __call__(self) -> object:
        watchdog = self.watchdog
        attempt = watchdog.begin(self.seconds)
        try:
            value = self.call()
        except TimeLimitExceeded:
            if watchdog.end(attempt):
                raise _exceeded(self.seconds) from None
            raise  # the task's own
        except BaseException:
            watchdog.end(attempt)  # it failed on its own before the limit landed
            raise
        watchdog.end(attempt)  # it returned: a limit raised meanwhile is cleared, not landed
        if type(value) is _CoroutineType:
            return _within(value, self.seconds)
        return value

    @property
    def tasq_call(self) -> Call:
        """The call itself (what the log names)."""
        return self.call

    def __repr__(self) -> str:
        return repr(self.call)


def limited(call: Call, seconds: float | None, watchdog: Watchdog) -> Call:
    """``call`` under ``seconds`` of limit (``call`` itself when None)."""
    if seconds is None:
        return call
    if isinstance(call, Limited):
        call = call.call
    return Limited(call, seconds, watchdog)


async def _within(coro: Awaitable[object], seconds: float) -> object:
    try:
        async with asyncio.timeout(seconds) as scope:
            return await coro
    except TimeoutError:
        if scope.expired():
            raise _exceeded(seconds) from None
        raise


def _exceeded(seconds: float) -> TimeLimitExceeded:
    return TimeLimitExceeded(f"the attempt ran past its time limit of {seconds:g}s")
