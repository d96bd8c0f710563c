"""Promises 1-4 (docs/reliability.md): no task is lost, each is reported once, nothing kills a worker."""

from __future__ import annotations

import logging
import random
import threading
from collections import Counter
from collections.abc import Callable

import pytest

from tasq import MaxRetryExceeded, RetryTask, TasQ
from tests.conftest import scaled
from tests.support import Recorder

pytestmark = pytest.mark.timeout(60)

Make = Callable[..., TasQ]


def test_no_loss_under_concurrent_producers(make_engine: Make) -> None:
    """1. 8 threads enqueue 100,000 tasks; close(wait=True): every one done, ids distinct."""
    total = scaled(100_000)
    rec = Recorder()
    engine = make_engine(on_done=rec.on_done, on_failed=rec.on_failed)
    engine.start()
    ids: list[list[int]] = [[] for _ in range(8)]
    go = threading.Barrier(8)

    def produce(mine: list[int]) -> None:
        go.wait()
        for _ in range(total // 8):
            mine.append(engine.enqueue(lambda: None))

    producers = [threading.Thread(target=produce, args=(mine,)) for mine in ids]
    for producer in producers:
        producer.start()
    for producer in producers:
        producer.join()
    engine.close(wait=True)
    every_id = [task_id for mine in ids for task_id in mine]
    assert len(every_id) == len(set(every_id)) == total
    assert sum(rec.done.values()) == total and not rec.failed
    rec.assert_once_each(every_id)
    stats = engine.stats()
    assert stats.enqueued == stats.done + stats.failed == total


def test_exactly_one_terminal_event_with_failures_and_retries(make_engine: Make) -> None:
    """2. 10,000 tasks, 10% raise, 10% retry twice then succeed: one report each."""
    total = 10_000
    rec = Recorder()
    attempts: Counter[int] = Counter()
    lock = threading.Lock()
    engine = make_engine(max_retry=3, on_done=rec.on_done, on_failed=rec.on_failed)
    engine.start()
    fates = random.Random(2).choices(["ok", "raise", "retry"], weights=[8, 1, 1], k=total)

    def task_for(number: int, fate: str) -> Callable[[], None]:
        def task() -> None:
            with lock:
                attempts[number] += 1
                tries = attempts[number]
            if fate == "raise":
                raise KeyError(number)
            if fate == "retry" and tries < 3:
                raise RetryTask

        return task

    logging.getLogger("tasq").disabled = True  # 1,000 tracebacks say nothing here
    try:
        ids = [engine.enqueue(task_for(n, fate)) for n, fate in enumerate(fates)]
        assert engine.join(30)
    finally:
        logging.getLogger("tasq").disabled = False
    rec.assert_once_each(ids)
    assert max(attempts.values()) <= 3
    assert sum(1 for n, fate in enumerate(fates) if fate == "retry" and attempts[n] == 3) == fates.count("retry")
    assert len(rec.failed) == fates.count("raise")
    assert all(isinstance(errors[0], KeyError) for errors in rec.failed.values())
    stats = engine.stats()
    assert stats.retried == 2 * fates.count("retry")
    assert stats.enqueued == stats.done + stats.failed == total


class Custom(BaseException):
    pass


@pytest.mark.parametrize("error", [SystemExit(3), KeyboardInterrupt(), GeneratorExit(), Custom("mine")])
def test_base_exception_fails_only_that_task(make_engine: Make, error: BaseException) -> None:
    """3. SystemExit, KeyboardInterrupt, GeneratorExit, a custom one: that task FAILED only."""
    rec = Recorder()
    engine = make_engine(workers=4, on_done=rec.on_done, on_failed=rec.on_failed, results=2000)
    engine.start()

    def raise_it() -> None:
        raise error

    failing = [engine.enqueue(raise_it) for _ in range(8)]  # more than one per worker
    assert rec.wait(8)
    assert all(rec.failed[task_id][0] is error for task_id in failing)
    assert engine.stats().workers == 4
    following = [engine.enqueue(lambda: None) for _ in range(1000)]
    assert rec.wait(1008)
    assert all(rec.done[task_id] == 1 for task_id in following)
    assert engine.stats().workers == 4
    assert engine.result(failing[0]).error is error  # type: ignore[union-attr]


@pytest.mark.parametrize("error", [RuntimeError("callback bug"), SystemExit(1)])
@pytest.mark.parametrize("which", ["on_done", "on_failed"])
def test_raising_callbacks_are_logged_once_and_kill_no_worker(
    make_engine: Make, caplog: pytest.LogCaptureFixture, error: BaseException, which: str
) -> None:
    """4. Callbacks raising Exception or SystemExit: logged once each, workers all live."""
    caplog.set_level(logging.ERROR, logger="tasq")
    calls: Counter[int] = Counter()
    done = threading.Semaphore(0)

    def bad_callback(task_id: int, *_: object) -> None:
        calls[task_id] += 1
        done.release()
        if task_id <= 5:
            raise error

    engine = make_engine(workers=3, **{which: bad_callback})
    engine.start()
    task = (lambda: None) if which == "on_done" else (lambda: 1 / 0)
    logging.getLogger("tasq").disabled = which == "on_failed"  # the 1,005 task failures themselves
    try:
        ids = [engine.enqueue(task) for _ in range(1005)]
        assert all(done.acquire(timeout=10) for _ in ids)
        assert engine.join(10)
    finally:
        logging.getLogger("tasq").disabled = False
    assert all(calls[task_id] == 1 for task_id in ids)
    assert engine.stats().workers == 3
    if which == "on_done":
        raised = [r for r in caplog.records if "callback raised" in r.getMessage()]
        assert sorted(r.task_id for r in raised) == [1, 2, 3, 4, 5]  # type: ignore[attr-defined]
        assert all(r.exc_info and r.exc_info[1] is error for r in raised)
    stats = engine.stats()
    assert stats.done + stats.failed == 1005


def test_max_retry_exceeded_never_runs_more_than_max_retry(make_engine: Make) -> None:
    runs: Counter[int] = Counter()
    rec = Recorder()
    engine = make_engine(max_retry=5, on_failed=rec.on_failed)
    engine.start()

    def always_retry(number: int) -> None:
        runs[number] += 1
        raise RetryTask

    logging.getLogger("tasq").disabled = True
    try:
        ids = [engine.submit(always_retry, n) for n in range(200)]
        assert engine.join(20)
    finally:
        logging.getLogger("tasq").disabled = False
    assert set(runs.values()) == {5}
    assert all(isinstance(rec.error(task_id), MaxRetryExceeded) for task_id in ids)
