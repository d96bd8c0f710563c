"""Promise 6 (docs/reliability.md): a retry during the drain at close runs as any retry does.

A graceful close still runs what is queued, and a retry due now runs at once. Whichever
path it takes (a worker's loop, or the engine's own ``settle_error`` for an attempt that
failed outside a worker's ``try``), the next attempt starts after the ``except`` block of
the one that asked for it: no stale ``sys.exc_info()`` inside it, no "During handling of
the above exception" chained onto its error.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TypeVar

import pytest

from tasq import Hooks, RetryTask, TasQ
from tests.support import Gate, Make, Recorder

pytestmark = pytest.mark.timeout(30)

T = TypeVar("T")
ExcInfo = tuple[type[BaseException] | None, BaseException | None, TracebackType | None]
NOTHING: ExcInfo = (None, None, None)


class AttemptStarts(Hooks):
    """Notes ``sys.exc_info()`` as each attempt starts (``before_task``)."""

    def __init__(self) -> None:
        self.seen: list[ExcInfo] = []

    def before_task(self, task_id: int, attempt: int) -> None:
        self.seen.append(sys.exc_info())


def drained(engine: TasQ, task: Callable[[], object]) -> int:
    """``task`` queued behind a task holding the only worker, then the engine closed: it runs
    in the drain, and ``close()`` waits for it."""
    gate = Gate()
    engine.start()
    engine.enqueue(gate.task)
    assert gate.wait_started(1)
    task_id = engine.enqueue(task)
    engine.close(wait=False)  # accepts nothing more; what is queued still runs
    gate.open()
    assert engine.close(timeout=10) == []
    return task_id


def assert_unchained(error: BaseException) -> None:
    assert type(error) is ValueError, repr(error)
    assert error.__context__ is None and error.__cause__ is None
    assert "During handling" not in "".join(traceback.format_exception(error))


@pytest.mark.parametrize("layer", ["none", "results", "hooks", "time_limit"])
@pytest.mark.parametrize("kind", ["function", "async"])
def test_a_task_retried_during_the_drain_runs_again_outside_the_failed_attempts_except_block(
    make_engine: Make, layer: str, kind: str
) -> None:
    """6. RetryTask once, then ValueError, in the drain: the second attempt sees no exception
    being handled, and the ValueError has no context; each worker loop, sync and async."""
    rec = Recorder()
    options = {"results": {"results": 10}, "time_limit": {"time_limit": 10.0}}.get(layer, {})
    engine = make_engine(workers=1, max_retry=3, on_done=rec.on_done, on_failed=rec.on_failed, **options)
    starts = AttemptStarts()
    if layer == "hooks":
        engine.add_hooks(starts)
    inside: list[ExcInfo] = []

    def flaky() -> None:
        inside.append(sys.exc_info())
        if len(inside) == 1:
            raise RetryTask("once")
        raise ValueError("then broken")

    async def flaky_async() -> None:
        flaky()

    task_id = drained(engine, flaky if kind == "function" else flaky_async)
    assert inside == [NOTHING, NOTHING]
    assert starts.seen == ([NOTHING] * 3 if layer == "hooks" else [])  # the gate's attempt, then two
    assert_unchained(rec.error(task_id))
    rec.assert_once_each([1, task_id])


def test_a_retry_asked_for_while_spawning_a_coroutine_during_the_drain_runs_outside_that_except_block(
    make_engine: Make,
) -> None:
    """6. An ``around_coroutine`` hook raises RetryTask for the first attempt of an async task,
    in the drain, then ValueError: the engine runs the retry at once, and not inside the
    handling of the RetryTask (which once chained onto the ValueError)."""

    class RetriedOnce(AttemptStarts):
        def around_coroutine(self, task_id: int, coro: Awaitable[T]) -> Awaitable[T]:
            self.seen.append(sys.exc_info())
            close = getattr(coro, "close", None)
            if close is not None:
                close()  # not awaited: the hook fails the attempt
            if len(self.seen) == 3:  # the gate's start, then the first attempt's start and this
                raise RetryTask("not yet")
            raise ValueError("then broken")

    rec = Recorder()
    engine = make_engine(workers=1, max_retry=3, on_done=rec.on_done, on_failed=rec.on_failed)
    hooks = RetriedOnce()
    engine.add_hooks(hooks)

    async def task() -> None:
        raise AssertionError("its hook never lets it run")

    task_id = drained(engine, task)
    # The gate's start; attempt 1's start and coroutine; attempt 2's start and coroutine.
    assert hooks.seen == [NOTHING] * 5
    assert_unchained(rec.error(task_id))
    rec.assert_once_each([1, task_id])
