"""retry() and enqueue_many() on the thread engine."""

from __future__ import annotations

import threading

import pytest

from tasq import QueueFull, TaskStatus, TasQClosed, background, testing
from tests.support import Gate, Make, Recorder, raising

pytestmark = pytest.mark.timeout(30)


def test_retry_runs_the_same_call_again_as_a_new_id_and_keeps_the_record(make_engine: Make) -> None:
    calls: list[int] = []
    rec = Recorder()
    engine = make_engine(workers=2, results=20, on_done=rec.on_done, on_failed=rec.on_failed)
    engine.start()

    def flaky(n: int) -> int:
        calls.append(n)
        if len(calls) == 1:
            raise ValueError("first time")
        return n * 2

    failed = engine.submit(flaky, 21)
    assert rec.wait(1)
    again = engine.retry(failed)
    assert again > failed
    assert rec.wait(2)
    assert calls == [21, 21]
    first, second = engine.result(failed), engine.result(again)
    assert first is not None and first.status is TaskStatus.FAILED
    assert second is not None and second.status is TaskStatus.DONE and second.return_value == 42
    with pytest.raises(ValueError, match="succeeded"):
        engine.retry(again)


def test_retry_keeps_the_task_options(make_engine: Make) -> None:
    engine = make_engine(workers=1, results=20)
    seen: list[int] = []

    @background(max_retry=1, priority=3, tasq=engine)
    def fails() -> None:
        seen.append(1)
        raise ValueError("no")

    engine.start()
    failed = fails.enqueue()
    assert engine.join(5)
    again = engine.retry(failed)
    assert engine.join(5)
    result = engine.result(again)
    assert result is not None and result.status is TaskStatus.FAILED and len(seen) == 2


def test_retry_refuses_unknown_unfinished_and_without_results(make_engine: Make) -> None:
    gate = Gate()
    engine = make_engine(workers=1, results=2)
    engine.start()
    running = engine.submit(gate.task)
    assert gate.wait_started(1)
    with pytest.raises(ValueError, match="has not finished"):
        engine.retry(running)
    with pytest.raises(ValueError, match="not known"):
        engine.retry(running + 100)
    with pytest.raises(TypeError, match="task_id"):
        engine.retry("1")  # type: ignore[arg-type]
    gate.open()
    assert engine.join(5)
    bare = make_engine(workers=1)
    bare.start()
    failed = bare.submit(raising(ValueError("x")))
    assert bare.join(5)
    with pytest.raises(ValueError, match="results=N"):
        bare.retry(failed)


def test_enqueue_many_all_in_order(make_engine: Make) -> None:
    order: list[int] = []
    lock = threading.Lock()
    engine = make_engine(workers=1)
    engine.start()

    def note(i: int) -> None:
        with lock:
            order.append(i)

    ids = engine.enqueue_many([lambda i=i: note(i) for i in range(50)])
    assert ids == list(range(ids[0], ids[0] + 50))
    assert engine.join(5)
    assert order == list(range(50))
    assert engine.enqueue_many([]) == []


def test_enqueue_many_none_when_one_is_refused(make_engine: Make) -> None:
    rec = Recorder()
    engine = make_engine(workers=1, on_done=rec.on_done, on_failed=rec.on_failed)
    engine.start()
    for tasks, match in (
        ([lambda: None, None, lambda: None], r"tasks\[1\]: cannot enqueue None"),
        ([lambda: None, 42], r"tasks\[1\]"),
        ([(lambda: (yield)), lambda: None], r"tasks\[0\]: .*generator"),
    ):
        with pytest.raises(TypeError, match=match):
            engine.enqueue_many(tasks)
    with pytest.raises(ValueError, match="priority"):
        engine.enqueue_many([lambda: None], priority=1000)
    with pytest.raises(TypeError, match="iterable"):
        engine.enqueue_many(42)  # type: ignore[arg-type]
    assert engine.join(2)
    assert engine.stats().enqueued == 0 and rec.finished == 0
    engine.close()
    with pytest.raises(TasQClosed):
        engine.enqueue_many([lambda: None])


def test_enqueue_many_under_a_bound_takes_every_slot_or_none(make_engine: Make) -> None:
    gate = Gate()
    engine = make_engine(workers=1, queue_size=3, on_full="raise")
    engine.start()
    engine.submit(gate.task)
    assert gate.wait_started(1)
    with pytest.raises(QueueFull):
        engine.enqueue_many([lambda: None] * 4)
    assert len(engine.enqueue_many([lambda: None] * 3)) == 3
    with pytest.raises(QueueFull):
        engine.enqueue_many([lambda: None])
    assert engine.stats().enqueued == 4
    gate.open()
    assert engine.join(5)


def test_enqueue_many_delayed_and_eager(make_engine: Make) -> None:
    rec = Recorder()
    engine = make_engine(workers=1, on_done=rec.on_done)
    engine.start()
    ids = engine.enqueue_many([lambda: None, lambda: None], delay=0.05)
    assert rec.wait(2, timeout=5)
    rec.assert_once_each(ids)
    seen: list[int] = []
    with testing.eager():
        eager = make_engine(workers=1)
        ids = eager.enqueue_many([lambda: seen.append(1), lambda: seen.append(2)])
    assert len(ids) == 2 and seen == [1, 2]
