"""Promise 18 (docs/reliability.md): cancel racing a start gives one outcome; time_limit ends
a busy task and a hanging coroutine, and the workers go on."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from tasq import TaskCancelled, TimeLimitExceeded
from tests.conftest import scaled
from tests.support import Make, Recorder

pytestmark = pytest.mark.timeout(120)


@pytest.mark.stress
def test_cancel_racing_the_start_of_the_same_task_gives_one_outcome(make_engine: Make) -> None:
    """18. cancel() the moment a task is enqueued to idle workers, 10,000 times: each id gets
    exactly one outcome, and it is the one cancel() answered."""
    total = scaled(10_000)
    rec = Recorder()
    ran: list[list[int]] = []  # the box of each task that ran: its id is put in after enqueue
    lock = threading.Lock()
    engine = make_engine(workers=4, on_done=rec.on_done, on_failed=rec.on_failed)
    engine.start()
    answers: dict[int, bool] = {}

    def enqueued() -> tuple[int, list[int]]:
        box: list[int] = []

        def task() -> None:
            with lock:
                ran.append(box)

        task_id = engine.submit(task)
        box.append(task_id)
        return task_id, box

    # Half: cancel each task the moment it is enqueued to idle workers.
    for _ in range(total // 2):
        task_id, _ = enqueued()
        answers[task_id] = engine.cancel(task_id)
    # Half: a queue the workers are draining, and a thread cancelling it from the front.
    batch = [enqueued()[0] for _ in range(total - total // 2)]
    canceller = threading.Thread(target=lambda: answers.update((i, engine.cancel(i)) for i in batch))
    canceller.start()
    canceller.join(60)
    assert engine.join(60)
    rec.assert_once_each(list(answers))
    cancelled = {task_id for task_id, yes in answers.items() if yes}
    assert cancelled == set(rec.failed)
    assert all(isinstance(rec.error(task_id), TaskCancelled) for task_id in cancelled)
    ran_ids = [box[0] for box in ran]
    assert len(ran_ids) == len(set(ran_ids))
    assert set(ran_ids) == set(rec.done) == set(answers) - cancelled
    stats = engine.stats()
    assert stats.cancelled == len(cancelled) and stats.done == total - len(cancelled)


def test_time_limit_ends_a_busy_task_and_a_hanging_coroutine_then_the_workers_go_on(make_engine: Make) -> None:
    """18. time_limit=0.2: a busy loop and a hanging coroutine each fail with TimeLimitExceeded
    within 0.2 + 0.1 s of their start; the same workers then run 1,000 tasks."""
    rec = Recorder()
    began: dict[str, float] = {}
    ended: dict[int, float] = {}

    def on_failed(task_id: int, error: BaseException) -> None:
        ended[task_id] = time.monotonic()
        rec.on_failed(task_id, error)

    engine = make_engine(workers=2, time_limit=0.2, on_done=rec.on_done, on_failed=on_failed)

    def busy() -> None:
        began["busy"] = time.monotonic()
        while True:
            pass

    async def hangs() -> None:
        began["async"] = time.monotonic()
        await asyncio.sleep(3600)

    engine.start()
    busy_id, async_id = engine.submit(busy), engine.enqueue(hangs)
    assert rec.wait(2, timeout=10)
    for task_id, name in ((busy_id, "busy"), (async_id, "async")):
        assert isinstance(rec.error(task_id), TimeLimitExceeded)
        assert ended[task_id] - began[name] <= 0.2 + 0.1, (name, ended[task_id] - began[name])
    ids = [engine.submit(lambda: None) for _ in range(1_000)]
    assert rec.wait(1_002, timeout=30)
    rec.assert_once_each([busy_id, async_id, *ids])
    assert engine.stats().workers == 2
