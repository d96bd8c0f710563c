"""Promise 19 (docs/reliability.md): the engine called again from where it is already running."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable

import pytest

from tasq import Hooks, TaskCancelled, lifecycle
from tests.support import Make, Recorder

pytestmark = pytest.mark.timeout(30)


async def async_noop() -> None:
    return None


def run(body: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(body)], capture_output=True, text=True, timeout=15)


@pytest.mark.parametrize(
    ("held", "call"),
    [
        ("engine._lock", "engine.stats()"),
        ("engine._lock", "engine.enqueue(lambda: None, priority=1)"),
        ("engine._joined._lock", "engine.join(0)"),
        ("engine._scheduler._lock", "engine.enqueue(lambda: None, delay=0.01)"),
    ],
)
def test_a_signal_handler_calls_the_engine_while_the_main_thread_is_inside_it(held: str, call: str) -> None:
    """19. A signal handler's stats()/enqueue/join while the main thread holds that lock: no deadlock."""
    process = run(f"""
        import os, signal
        import tasq
        engine = tasq.TasQ(workers=1)
        engine.start()
        answered = []
        def handler(signum, frame):
            answered.append({call})
        signal.signal(signal.SIGUSR1, handler)
        with {held}:  # the main thread is inside the engine when the signal lands
            os.kill(os.getpid(), signal.SIGUSR1)
            for _ in range(1000):
                if answered:
                    break
        assert answered
        engine.close(timeout=5)
        stats = engine.stats()
        print("ok", stats.enqueued == stats.done + stats.failed, flush=True)
    """)
    assert process.returncode == 0, process.stderr
    assert process.stdout.split() == ["ok", "True"]


def in_time(target: Callable[[], object], timeout: float = 5.0) -> bool:
    """Run ``target`` in a thread of its own; True if it returned within ``timeout``."""
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    return not thread.is_alive()


def test_close_from_an_async_task_does_not_wait_for_itself(make_engine: Make) -> None:
    """19. An async task calls close(): it returns, the task is done, the engine ends."""
    recorder = Recorder()
    closed = threading.Event()
    engine = make_engine(workers=1, on_done=recorder.on_done, on_failed=recorder.on_failed)

    async def closes() -> None:
        engine.close()
        closed.set()

    engine.start()
    task_id = engine.enqueue(closes)
    assert closed.wait(5)
    assert recorder.wait(1, timeout=5)
    recorder.assert_once_each([task_id])
    assert recorder.done[task_id] == 1


def test_close_from_an_async_tasks_callback_does_not_wait_for_itself(make_engine: Make) -> None:
    """19. on_done of an async task (it runs on the loop thread) calls close(): no hang."""
    recorder = Recorder()
    closed = threading.Event()
    engine = make_engine(workers=1, on_failed=recorder.on_failed)

    def on_done(task_id: int) -> None:
        recorder.on_done(task_id)
        engine.close()
        closed.set()

    engine.on_done = on_done
    engine.start()
    task_id = engine.enqueue(async_noop)
    assert closed.wait(5)
    recorder.assert_once_each([task_id])


def test_close_from_an_after_enqueue_hook_does_not_wait_for_that_task(make_engine: Make) -> None:
    """19. after_enqueue calls close(): enqueue returns, its task is reported once."""
    recorder = Recorder()
    engine = make_engine(workers=1, on_done=recorder.on_done, on_failed=recorder.on_failed)

    class Closes(Hooks):
        def after_enqueue(self, task_id: int) -> None:
            engine.close()

    engine.add_hooks(Closes())
    engine.start()
    ids: list[int] = []
    assert in_time(lambda: ids.append(engine.enqueue(lambda: None)))
    assert recorder.wait(1, timeout=5)
    recorder.assert_once_each(ids)
    assert engine.join(5)


def test_close_from_an_on_failed_that_fires_during_close_does_not_hang(make_engine: Make) -> None:
    """19. close() cancels a delayed task; its on_failed calls close(): both return, reported once."""
    recorder = Recorder()
    engine = make_engine(workers=1, on_done=recorder.on_done)

    def on_failed(task_id: int, error: BaseException) -> None:
        recorder.on_failed(task_id, error)
        engine.close()

    engine.on_failed = on_failed
    engine.start()
    delayed = engine.enqueue(lambda: None, delay=60)
    plain = engine.enqueue(lambda: None)
    assert in_time(engine.close)
    recorder.assert_once_each([delayed, plain])
    assert type(recorder.error(delayed)) is TaskCancelled


def test_the_loop_thread_ends_once_an_async_task_outlives_a_bounded_close(make_engine: Make) -> None:
    """19. close(timeout=) returns while an async task runs: the loop thread ends when it finishes."""
    recorder = Recorder()
    engine = make_engine(workers=1, on_done=recorder.on_done, on_failed=recorder.on_failed)
    go = threading.Event()

    async def slow() -> None:
        while not go.is_set():
            await asyncio.sleep(0.01)

    engine.start()
    task_id = engine.enqueue(slow)
    while not engine.running_ids():
        time.sleep(0.01)
    assert engine.close(timeout=0.05) == [task_id]
    go.set()
    assert recorder.wait(1, timeout=5)
    deadline = time.monotonic() + 5
    while any(t.name == "tasq-default-loop" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(t.name == "tasq-default-loop" for t in threading.enumerate())
    assert engine not in lifecycle.open_engines()
