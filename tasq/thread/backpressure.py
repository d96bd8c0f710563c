"""Backpressure: ``queue_size`` bounds the tasks pending, for threads and for event loops.

A task accepted under a bound holds a slot (``TaskState.holds_slot``) until its first
attempt starts or it is reported. Taking slots (``take_space``) never waits, so that it can
sit with the rest of an accept under ``signals_held()``; waiting for room is apart from it
and stays interruptible: ``wait_for_room`` in a thread (``on_full="block"``, or
``QueueFull`` at once for ``"raise"``), ``wait_for_room_async`` on an event loop without
blocking it. A waiter woken looks again: another may have taken the room first.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ..checks import remaining
from ..exceptions import QueueFull, TasQClosed

if TYPE_CHECKING:
    from .engine import ThreadEngine

__all__ = ["release_space", "take_space", "wait_for_room", "wait_for_room_async", "wake_async_space_waiters"]


def take_space(engine: ThreadEngine, count: int = 1) -> bool:
    """Take ``count`` slots if they are free (True), or none (False); ``TasQClosed`` once closed."""
    with engine._lock:
        if engine._closed:
            raise TasQClosed(f"engine {engine.name!r} is closed")
        if engine._queued + count > engine.queue_size:
            return False
        engine._queued += count
        return True


def wait_for_room(engine: ThreadEngine, deadline: float | None, timeout: float | None, count: int = 1) -> None:
    """Wait until ``count`` slots may be free, or the engine closed; ``QueueFull`` as ``on_full`` says."""
    if engine.on_full != "block":
        raise QueueFull(f"engine {engine.name!r}: {engine.queue_size} tasks are pending")
    if not engine._space.wait_for(lambda: _room(engine, count), deadline):
        pending = f"{engine.queue_size} tasks are pending"
        raise QueueFull(f"engine {engine.name!r}: {pending} and none came free in {timeout}s")


async def wait_for_room_async(engine: ThreadEngine, deadline: float | None, timeout: float | None) -> None:
    """``wait_for_room`` on the running event loop, which goes on running meanwhile."""
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()
    with engine._lock:
        engine._async_space_waiters.append((loop, waiter))
    if _room(engine, 1):
        return
    try:
        await asyncio.wait_for(waiter, remaining(deadline))
    except TimeoutError:
        raise QueueFull(f"engine {engine.name!r}: no free slot in {timeout}s") from None


def _room(engine: ThreadEngine, count: int) -> bool:
    return engine._closed or engine._queued + count <= engine.queue_size


def release_space(engine: ThreadEngine) -> None:
    with engine._lock:
        engine._queued -= 1
    if engine._space.waiting:
        engine._space.wake_all()
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
