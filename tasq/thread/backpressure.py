"""Backpressure: ``queue_size`` bounds the tasks pending, for threads and for event loops.

A task accepted under a bound holds a slot (``TaskState.holds_slot``) until its first
attempt starts or it is reported; ``take_space`` waits for one (``on_full="block"``) or
refuses, and ``wait_for_space`` does the same for a coroutine without blocking its loop.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from ..checks import remaining
from ..exceptions import QueueFull, TasQClosed

if TYPE_CHECKING:
    from .engine import ThreadEngine

__all__ = ["release_space", "take_space", "take_space_or_raise", "wait_for_space", "wake_async_space_waiters"]


def take_space(engine: ThreadEngine, block: bool, timeout: float | None = None) -> bool:
    """Take a slot: True if one was (or came) free, False if not; ``TasQClosed`` once closed."""
    with engine._space:
        if block:
            deadline = None if timeout is None else time.monotonic() + timeout
            while engine._queued >= engine.queue_size and not engine._closed:
                if not engine._space.wait(remaining(deadline)):
                    break
        if engine._closed:
            raise TasQClosed(f"engine {engine.name!r} is closed")
        if engine._queued >= engine.queue_size:
            return False
        engine._queued += 1
        return True


def take_space_or_raise(engine: ThreadEngine, timeout: float | None) -> None:
    """``take_space`` as ``on_full`` says: wait (at most ``timeout``) or raise ``QueueFull`` at once."""
    blocking = engine.on_full == "block"
    if not take_space(engine, block=blocking, timeout=timeout):
        waited = f" and none came free in {timeout}s" if blocking else ""
        raise QueueFull(f"engine {engine.name!r}: {engine.queue_size} tasks are pending{waited}")


async def wait_for_space(engine: ThreadEngine, timeout: float | None) -> None:
    """Take a slot, waiting on the running event loop (at most ``timeout``) for one to come free."""
    deadline = None if timeout is None else time.monotonic() + timeout
    loop = asyncio.get_running_loop()
    while True:
        waiter: asyncio.Future[None] = loop.create_future()
        with engine._lock:
            engine._async_space_waiters.append((loop, waiter))
        if take_space(engine, block=False):
            return
        try:
            await asyncio.wait_for(waiter, remaining(deadline))
        except TimeoutError:
            raise QueueFull(f"engine {engine.name!r}: no free slot in {timeout}s") from None


def release_space(engine: ThreadEngine) -> None:
    with engine._space:
        engine._queued -= 1
        engine._space.notify()
    wake_async_space_waiters(engine)


def wake_async_space_waiters(engine: ThreadEngine) -> None:
    # All of them: one that was cancelled meanwhile must not swallow the wake-up.
    if not engine._async_space_waiters:
        return
    with engine._lock:
        waiters, engine._async_space_waiters = engine._async_space_waiters, []
    for loop, waiter in waiters:
        _wake(loop, waiter)


def _wake(loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[None]) -> None:
    def set_result() -> None:
        if not waiter.done():
            waiter.set_result(None)

    try:
        loop.call_soon_threadsafe(set_result)
    except RuntimeError:  # that loop is closed, and its waiter with it
        pass
