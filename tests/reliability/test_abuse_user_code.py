"""Promise 18 (docs/reliability.md): user code and values that raise where the engine does not expect it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import TypeVar

import pytest

from tasq import Hooks, RetryTask, TaskCancelled
from tests.support import Make, Recorder

pytestmark = pytest.mark.timeout(30)

T = TypeVar("T")


async def async_noop() -> None:
    return None


def test_an_around_coroutine_hook_that_raises_fails_that_task_and_no_worker() -> None:
    """18. around_coroutine raising: the task fails with its error, the worker lives on."""
    from tasq import TasQ

    class Broken(Hooks):
        def around_coroutine(self, task_id: int, coro: Awaitable[T]) -> Awaitable[T]:
            raise ValueError("broken hook")

    recorder = Recorder()
    engine = TasQ(workers=1, on_done=recorder.on_done, on_failed=recorder.on_failed)
    engine.add_hooks(Broken())
    try:
        engine.start()
        broken = engine.enqueue(async_noop)
        after = engine.enqueue(lambda: None)
        assert engine.join(5)
        assert type(recorder.error(broken)) is ValueError
        assert recorder.done[after] == 1
        assert engine.stats().workers == 1
    finally:
        engine.close(timeout=5, cancel_pending=True)


def _exits(attempt: int) -> float:
    sys.exit(3)


def retry_once() -> None:
    raise RetryTask("again")


async def retry_once_async() -> None:
    raise RetryTask("again")


def test_a_retry_delay_raising_system_exit_fails_the_task_and_kills_no_worker(make_engine: Make) -> None:
    """18. retry_delay callable raising SystemExit: that task FAILED with it, the worker lives on."""
    recorder = Recorder()
    engine = make_engine(workers=1, retry_delay=_exits, on_done=recorder.on_done, on_failed=recorder.on_failed)
    engine.start()
    broken = engine.enqueue(retry_once)
    after = engine.enqueue(lambda: None)
    assert recorder.wait(2, timeout=5)
    assert type(recorder.error(broken)) is SystemExit
    assert recorder.done[after] == 1
    assert engine.stats().workers == 1


def test_a_retry_delay_raising_system_exit_on_an_async_task_keeps_the_loop_running(make_engine: Make) -> None:
    """18. The same on an async task: the loop thread lives on, the next async task runs."""
    recorder = Recorder()
    engine = make_engine(workers=1, retry_delay=_exits, on_done=recorder.on_done, on_failed=recorder.on_failed)
    engine.start()
    broken = engine.enqueue(retry_once_async)
    assert recorder.wait(1, timeout=5)
    after = engine.enqueue(async_noop)
    assert recorder.wait(2, timeout=5)
    assert type(recorder.error(broken)) is SystemExit
    assert recorder.done[after] == 1


class Touchy:
    """A task object whose attribute lookups raise once it has run."""

    def __init__(self) -> None:
        self.ran = False

    def do(self) -> None:
        self.ran = True
        raise ValueError("the task failed")

    def __getattr__(self, name: str) -> object:
        if self.__dict__.get("ran"):
            raise RuntimeError(f"no {name} after the run")
        raise AttributeError(name)


def test_a_task_whose_getattr_raises_is_still_reported_and_kills_no_worker(make_engine: Make) -> None:
    """18. The failure log line names a task whose __getattr__ raises: reported once, worker alive."""
    recorder = Recorder()
    engine = make_engine(workers=1, on_done=recorder.on_done, on_failed=recorder.on_failed)
    engine.start()
    touchy = engine.enqueue(Touchy())
    after = engine.enqueue(lambda: None)
    assert recorder.wait(2, timeout=5)
    assert type(recorder.error(touchy)) is ValueError
    assert recorder.done[after] == 1
    assert engine.stats().workers == 1


def test_a_delay_beyond_the_longest_wait_leaves_the_scheduler_running(make_engine: Make) -> None:
    """18. delay=datetime(9999, 12, 31): later delayed tasks still run; the far one is cancelled at close."""
    recorder = Recorder()
    engine = make_engine(workers=1, on_done=recorder.on_done, on_failed=recorder.on_failed)
    engine.start()
    far = engine.enqueue(lambda: None, delay=datetime(9999, 12, 31, tzinfo=UTC))
    soon = engine.enqueue(lambda: None, delay=0.05)
    assert recorder.wait(1, timeout=5)
    assert recorder.done[soon] == 1
    engine.close(timeout=5)
    assert type(recorder.error(far)) is TaskCancelled


def test_close_with_an_infinite_timeout_waits_like_no_timeout(make_engine: Make) -> None:
    """18. close(timeout=inf): no OverflowError; it drains like close()."""
    recorder = Recorder()
    started = threading.Event()
    engine = make_engine(workers=1, on_done=recorder.on_done, on_failed=recorder.on_failed)
    engine.start()
    ids = [engine.enqueue(started.set)] + [engine.enqueue(lambda: None) for _ in range(10)]
    assert engine.close(timeout=float("inf")) == []
    recorder.assert_once_each(ids)
    assert not recorder.failed


def test_an_infinite_shutdown_timeout_drains_at_exit() -> None:
    """18. shutdown_timeout=inf: the exit drain runs every pending task (none cancelled)."""
    script = textwrap.dedent("""
        import time
        import tasq
        def on_done(task_id):
            print("done", task_id, flush=True)
        def on_failed(task_id, error):
            print("failed", task_id, type(error).__name__, flush=True)
        engine = tasq.TasQ(workers=1, shutdown_timeout=float("inf"), on_done=on_done, on_failed=on_failed)
        engine.start()
        for _ in range(20):
            engine.enqueue(lambda: time.sleep(0.01))
    """)
    process = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=20)
    assert process.returncode == 0, process.stderr
    assert sorted(process.stdout.splitlines()) == sorted(f"done {n}" for n in range(1, 21)), process.stderr
