from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Awaitable, Callable

__all__ = ["LoopThread"]

Outcome = Callable[[object, BaseException | None], None]


class LoopThread:
    """The event loop that runs an engine's ``async def`` tasks, on a thread of its own."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def spawn(
        self,
        coro: Awaitable[object],
        on_outcome: Outcome,
        context: contextvars.Context | None = None,
    ) -> None:
        """Run ``coro`` on the loop; ``on_outcome(value, error)`` is called there when it ends."""
        self._ensure_loop().call_soon_threadsafe(self._start, coro, on_outcome, context)

    def run(self, coro: Awaitable[object]) -> object:
        """Run ``coro`` on the loop and wait for its value (eager mode)."""
        future = asyncio.run_coroutine_threadsafe(_as_coroutine(coro), self._ensure_loop())
        return future.result()

    def is_current(self) -> bool:
        """True in the loop's own thread (an async task, or a callback it runs)."""
        return self._thread is threading.current_thread()

    def stop(self, timeout: float | None = None) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(_cancel_all_and_stop, loop)
        if thread is not threading.current_thread():
            thread.join(timeout)

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is not None:
            return loop
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=_serve, args=(loop,), name=self._name, daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    @staticmethod
    def _start(coro: Awaitable[object], on_outcome: Outcome, context: contextvars.Context | None) -> None:
        task = asyncio.get_running_loop().create_task(_guarded(coro), context=context)

        def finished(task: asyncio.Task[tuple[object, BaseException | None]]) -> None:
            if task.cancelled():
                on_outcome(None, asyncio.CancelledError())
            else:
                on_outcome(*task.result())

        task.add_done_callback(finished)


async def _guarded(coro: Awaitable[object]) -> tuple[object, BaseException | None]:
    # asyncio re-raises SystemExit and KeyboardInterrupt out of run_forever(), which would
    # end the loop thread for every other task: a task's BaseException is its own failure.
    try:
        return await coro, None
    except BaseException as error:  # noqa: BLE001 - every outcome is reported
        return None, error


async def _as_coroutine(awaitable: Awaitable[object]) -> object:
    return await awaitable


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def _cancel_all_and_stop(loop: asyncio.AbstractEventLoop) -> None:
    for task in asyncio.all_tasks(loop):
        task.cancel()
    loop.call_soon(loop.stop)
