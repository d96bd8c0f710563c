"""The public API of tasq.TasQ, as docs/engine.md writes it."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from tasq import (
    MaxRetryExceeded,
    QueueFull,
    RetryTask,
    Stats,
    TaskCancelled,
    TaskStatus,
    TasQ,
    TasQClosed,
)
from tests.support import Gate, Make, Recorder, raising

pytestmark = pytest.mark.timeout(20)



def test_defaults_follow_the_seed() -> None:
    engine = TasQ()
    assert (engine.workers, engine.max_retry, engine.queue_size, engine.results) == (10, 3, 0, 0)
    assert engine.on_full == "block" and engine.name == "default"
    engine.close()


def test_construction_starts_no_thread() -> None:
    before = threading.active_count()
    engine = TasQ(workers=4)
    engine.enqueue(lambda: None)
    assert threading.active_count() == before
    engine.close()


def test_ids_are_positive_increasing_ints(make_engine: Make) -> None:
    engine = make_engine()
    ids = [engine.enqueue(lambda: None) for _ in range(100)]
    assert all(type(i) is int and i > 0 for i in ids)
    assert ids == sorted(ids) and len(set(ids)) == 100


def test_tasks_enqueued_before_start_run_after_it(make_engine: Make) -> None:
    rec = Recorder()
    engine = make_engine(on_done=rec.on_done)
    ids = [engine.enqueue(lambda: None) for _ in range(5)]
    assert engine.stats().pending == 5 and not rec.done
    engine.start()
    engine.start()  # again does nothing
    assert rec.wait(5)
    rec.assert_once_each(ids)
    assert engine.stats().workers == 10


def test_task_object_callable_and_submit(make_engine: Make) -> None:
    seen: list[object] = []

    class SendMail:
        def __init__(self, to: str) -> None:
            self.to = to

        def do(self) -> None:
            seen.append(self.to)

    engine = make_engine(results=10)
    engine.start()
    a = engine.enqueue(SendMail("a@example.com"))
    b = engine.enqueue(lambda: seen.append("lambda"))
    c = engine.submit(lambda x, y=0: seen.append(x + y), 1, y=2)
    assert engine.join(5)
    assert sorted(map(str, seen)) == ["3", "a@example.com", "lambda"]
    assert [engine.result(i).status for i in (a, b, c)] == [TaskStatus.DONE] * 3  # type: ignore[union-attr]


def test_coroutine_functions_run_on_the_engines_loop(make_engine: Make) -> None:
    threads: list[str] = []

    async def fetch() -> int:
        await asyncio.sleep(0.01)
        threads.append(threading.current_thread().name)
        return 7

    class AsyncTask:
        async def do(self) -> str:
            threads.append(threading.current_thread().name)
            return "ok"

    engine = make_engine(results=10, name="aio")
    engine.start()
    first, second = engine.enqueue(fetch), engine.enqueue(AsyncTask())
    assert engine.join(5)
    assert engine.result(first).return_value == 7  # type: ignore[union-attr]
    assert engine.result(second).return_value == "ok"  # type: ignore[union-attr]
    assert threads == ["tasq-aio-loop"] * 2


def test_retry_until_max_retry_then_max_retry_exceeded(make_engine: Make) -> None:
    rec = Recorder()
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        raise RetryTask("try later")

    engine = make_engine(max_retry=3, on_done=rec.on_done, on_failed=rec.on_failed)
    engine.start()
    task_id = engine.enqueue(flaky)
    assert rec.wait(1)
    error = rec.error(task_id)
    assert isinstance(error, MaxRetryExceeded)
    assert isinstance(error.__cause__, RetryTask) and str(error.__cause__) == "try later"
    assert len(calls) == 3
    assert engine.stats().retried == 2


@pytest.mark.parametrize("options", [{}, {"results": 10}, {"queue_size": 5}])
def test_a_retry_due_now_runs_again_in_its_worker_unchained(make_engine: Make, options: dict[str, int]) -> None:
    rec = Recorder()
    threads: list[str] = []

    class Flaky:
        def do(self) -> None:
            threads.append(threading.current_thread().name)
            if len(threads) < 3:
                raise RetryTask(f"attempt {len(threads)}")
            raise ValueError("then broken")

    engine = make_engine(workers=4, max_retry=5, on_done=rec.on_done, on_failed=rec.on_failed, **options)
    engine.start()
    task_id = engine.enqueue(Flaky())
    assert rec.wait(1)
    error = rec.error(task_id)
    assert isinstance(error, ValueError)
    # Each attempt ran on its own, not inside the handling of the one before.
    assert error.__context__ is None and error.__cause__ is None
    assert len(threads) == 3 and len(set(threads)) == 1
    assert engine.stats().retried == 2


def test_a_plain_retry_loop_hands_a_delay_to_the_scheduler_and_counts_each_attempt(make_engine: Make) -> None:
    rec = Recorder()
    asked: list[RetryTask | None] = [RetryTask("now"), RetryTask("soon", delay=0.05), RetryTask("now again"), None]
    started: list[float] = []

    def flaky() -> None:
        started.append(time.monotonic())
        error = asked[len(started) - 1]
        if error is not None:
            raise error

    engine = make_engine(max_retry=4, on_done=rec.on_done, on_failed=rec.on_failed)
    engine.start()
    task_id = engine.enqueue(flaky)
    assert rec.wait(1)
    rec.assert_once_each([task_id])
    assert task_id in rec.done
    assert len(started) == 4
    assert started[2] - started[1] >= 0.045  # the delay asked for by attempt 2 was kept
    assert engine.join(5)
    assert engine.stats().retried == 3


def test_the_last_of_plain_retries_due_now_fails_with_max_retry_exceeded(make_engine: Make) -> None:
    rec = Recorder()
    calls: list[int] = []

    def always() -> None:
        calls.append(1)
        raise RetryTask(f"attempt {len(calls)}")

    engine = make_engine(max_retry=3, on_done=rec.on_done, on_failed=rec.on_failed)
    engine.start()
    task_id = engine.enqueue(always)
    assert rec.wait(1)
    error = rec.error(task_id)
    assert isinstance(error, MaxRetryExceeded) and str(task_id) in str(error)
    assert isinstance(error.__cause__, RetryTask) and str(error.__cause__) == "attempt 3"
    assert error.__cause__.__context__ is None  # attempt 3 did not run inside attempt 2's handling
    assert len(calls) == 3
    assert engine.join(5)  # the counts are taken after on_failed returns
    stats = engine.stats()
    assert (stats.done, stats.failed, stats.retried, stats.cancelled) == (0, 1, 2, 0)


def test_task_objects_of_one_type_each_run_their_own_do(make_engine: Make) -> None:
    rec = Recorder()
    ran: list[str] = []

    class Job:
        def __init__(self, name: str) -> None:
            self.name = name

        def do(self) -> None:
            ran.append(self.name)

    special = Job("special")
    special.do = lambda: ran.append("own do")  # type: ignore[method-assign]

    def generator() -> object:
        yield 1

    shadowed = Job("generator")
    shadowed.do = generator  # type: ignore[method-assign]
    engine = make_engine(on_done=rec.on_done, on_failed=rec.on_failed)
    ids = [engine.enqueue(Job("a")), engine.enqueue(Job("b")), engine.enqueue(special)]
    with pytest.raises(TypeError, match="generator"):
        engine.enqueue(shadowed)
    engine.start()
    assert rec.wait(3)
    rec.assert_once_each(ids)
    assert sorted(ran) == ["a", "b", "own do"]


def test_retry_then_success_counts_attempts(make_engine: Make) -> None:
    attempts: list[int] = []

    def twice_then_ok() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise RetryTask
        return "done"

    engine = make_engine(results=10, max_retry=5)
    engine.start()
    task_id = engine.enqueue(twice_then_ok)
    assert engine.join(5)
    result = engine.result(task_id)
    assert result is not None and result.status is TaskStatus.DONE
    assert (result.attempts, result.return_value) == (3, "done")


def test_retry_delay_callable_gets_the_failed_attempt(make_engine: Make) -> None:
    asked: list[int] = []

    def delay(attempt: int) -> float:
        asked.append(attempt)
        return 0.0

    engine = make_engine(max_retry=4, retry_delay=delay)
    engine.start()
    engine.enqueue(raising(RetryTask()))
    assert engine.join(5)
    assert asked == [1, 2, 3]


def test_retry_task_delay_overrides_the_engine(make_engine: Make) -> None:
    times: list[float] = []

    def task() -> None:
        times.append(time.monotonic())
        if len(times) == 1:
            raise RetryTask(delay=timedelta(milliseconds=150))

    engine = make_engine(retry_delay=10.0)
    engine.start()
    engine.enqueue(task)
    assert engine.join(5)
    assert times[1] - times[0] >= 0.15


def test_other_exceptions_fail_at_once(make_engine: Make) -> None:
    rec = Recorder()
    engine = make_engine(on_failed=rec.on_failed)
    engine.start()
    task_id = engine.enqueue(lambda: 1 / 0)
    assert rec.wait(1)
    assert isinstance(rec.error(task_id), ZeroDivisionError)
    assert engine.stats().retried == 0


def test_delay_in_seconds_timedelta_and_aware_datetime(make_engine: Make) -> None:
    ran: dict[str, float] = {}
    engine = make_engine()
    engine.start()
    start = time.monotonic()
    engine.enqueue(lambda: ran.setdefault("seconds", time.monotonic()), delay=0.1)
    engine.enqueue(lambda: ran.setdefault("timedelta", time.monotonic()), delay=timedelta(seconds=0.1))
    at = datetime.now(UTC) + timedelta(seconds=0.1)
    engine.enqueue(lambda: ran.setdefault("datetime", time.monotonic()), delay=at)
    engine.enqueue(lambda: ran.setdefault("past", time.monotonic()), delay=datetime.now(UTC) - timedelta(days=1))
    assert engine.join(5)
    assert all(ran[k] - start >= 0.095 for k in ("seconds", "timedelta", "datetime"))
    assert ran["past"] - start < 0.09


def test_higher_priority_runs_first_among_due_tasks(make_engine: Make) -> None:
    gate, order = Gate(), []
    engine = make_engine(workers=1)
    engine.start()
    engine.enqueue(gate.task)
    assert gate.wait_started(1)
    for priority in (0, -5, 10, 0, 100, -100, 3):
        engine.enqueue(lambda p=priority: order.append(p), priority=priority)
    gate.open()
    assert engine.join(5)
    assert order == [100, 10, 3, 0, 0, -5, -100]


def test_same_priority_keeps_fifo_order(make_engine: Make) -> None:
    gate, order = Gate(), []
    engine = make_engine(workers=1)
    engine.start()
    engine.enqueue(gate.task)
    assert gate.wait_started(1)
    for n in range(20):
        engine.enqueue(lambda n=n: order.append(n), priority=n % 2)
    gate.open()
    assert engine.join(5)
    assert order == list(range(1, 20, 2)) + list(range(0, 20, 2))


def test_join_waits_for_callbacks(make_engine: Make) -> None:
    reported = threading.Event()

    def on_done(task_id: int) -> None:
        time.sleep(0.05)
        reported.set()

    engine = make_engine(on_done=on_done)
    engine.start()
    engine.enqueue(lambda: None)
    assert engine.join(5)
    assert reported.is_set()


def test_join_times_out(make_engine: Make) -> None:
    gate = Gate()
    engine = make_engine()
    engine.start()
    engine.enqueue(gate.task)
    assert engine.join(0.05) is False
    gate.open()
    assert engine.join(5)


def test_stats_balance(make_engine: Make) -> None:
    engine = make_engine(max_retry=2)
    engine.start()
    for n in range(30):
        engine.enqueue([lambda: None, lambda: 1 / 0, raising(RetryTask())][n % 3])
    assert engine.join(5)
    stats = engine.stats()
    assert isinstance(stats, Stats)
    assert (stats.enqueued, stats.done, stats.failed, stats.retried) == (30, 10, 20, 10)
    assert stats.pending == stats.running == stats.cancelled == 0


def test_results_keep_the_newest_finished(make_engine: Make) -> None:
    engine = make_engine(results=5, workers=1)
    engine.start()
    ids = [engine.enqueue(lambda n=n: n * 10) for n in range(20)]
    assert engine.join(5)
    assert [engine.result(i) for i in ids[:15]] == [None] * 15
    kept = [engine.result(i) for i in ids[15:]]
    assert [r.return_value for r in kept] == [150, 160, 170, 180, 190]  # type: ignore[union-attr]


def test_result_of_pending_running_and_failed_tasks(make_engine: Make) -> None:
    gate = Gate()
    engine = make_engine(results=10, workers=1)
    engine.start()
    running = engine.enqueue(gate.task)
    assert gate.wait_started(1)
    pending = engine.enqueue(lambda: 1 / 0)
    result = engine.result(running)
    assert result is not None and result.status is TaskStatus.RUNNING and result.started_at is not None
    result = engine.result(pending)
    assert result is not None and (result.status, result.attempts, result.started_at) == (TaskStatus.PENDING, 0, None)
    gate.open()
    assert engine.join(5)
    failed = engine.result(pending)
    assert failed is not None and failed.status is TaskStatus.FAILED
    assert isinstance(failed.error, ZeroDivisionError) and failed.finished
    assert failed.enqueued_at <= failed.started_at <= failed.finished_at  # type: ignore[operator]
    assert failed.enqueued_at.tzinfo is UTC
    assert engine.result(10_000) is None


def test_results_record_every_way_in_the_same_a_function_or_a_task_object_again(make_engine: Make) -> None:
    """The same function and Task objects of a type already checked take enqueue's short way
    in: each is recorded as any task, from its enqueue to its end."""

    class Doubled:
        def __init__(self, n: int) -> None:
            self.n = n

        def do(self) -> int:
            return self.n * 2

    def answer() -> int:
        return 42

    engine = make_engine(results=10, workers=1)
    engine.start()
    ids = [engine.enqueue(answer) for _ in range(3)] + [engine.enqueue(Doubled(n)) for n in range(3)]
    assert engine.join(5)
    results = [engine.result(task_id) for task_id in ids]
    assert [r.return_value for r in results] == [42, 42, 42, 0, 2, 4]  # type: ignore[union-attr]
    for result in results:
        assert result is not None and result.status is TaskStatus.DONE and result.attempts == 1
        assert result.enqueued_at <= result.started_at <= result.finished_at  # type: ignore[operator]


def test_result_is_none_without_a_store(make_engine: Make) -> None:
    engine = make_engine()
    engine.start()
    task_id = engine.enqueue(lambda: 1)
    assert engine.join(5)
    assert engine.result(task_id) is None


def test_context_manager_starts_and_drains() -> None:
    rec = Recorder()
    with TasQ(on_done=rec.on_done) as engine:
        assert engine.started
        ids = [engine.enqueue(lambda: time.sleep(0.001)) for _ in range(50)]
    assert engine.closed
    rec.assert_once_each(ids)


def test_enqueue_after_close_raises(make_engine: Make) -> None:
    engine = make_engine()
    engine.start()
    engine.close()
    with pytest.raises(TasQClosed):
        engine.enqueue(lambda: None)
    with pytest.raises(TasQClosed):
        engine.start()
    assert engine.close() == []  # idempotent


def test_close_on_a_never_started_engine_cancels_pending(make_engine: Make) -> None:
    rec = Recorder()
    engine = make_engine(on_failed=rec.on_failed)
    ids = [engine.enqueue(lambda: None) for _ in range(3)]
    engine.close()
    rec.assert_once_each(ids)
    assert all(isinstance(rec.error(i), TaskCancelled) for i in ids)
    assert engine.stats().cancelled == 3


def test_callbacks_settable_before_start_only(make_engine: Make) -> None:
    rec = Recorder()
    engine = make_engine()
    engine.on_done = rec.on_done
    engine.on_failed = rec.on_failed
    engine.start()
    other = Recorder()
    with pytest.raises(RuntimeError, match="on_done can only be set before the engine starts"):
        engine.on_done = other.on_done
    with pytest.raises(RuntimeError, match="on_failed can only be set before the engine starts"):
        engine.on_failed = other.on_failed
    assert engine.on_done == rec.on_done and engine.on_failed == rec.on_failed  # unchanged
    ok = engine.enqueue(lambda: None)
    bad = engine.enqueue(lambda: 1 / 0)
    assert rec.wait(2)
    assert rec.done == {ok: 1}
    assert isinstance(rec.error(bad), ZeroDivisionError)
    assert other.finished == 0  # the callbacks refused after start() were never called
    with pytest.raises(TypeError, match="on_done must be callable or None, not str"):
        TasQ(on_done="nope")  # type: ignore[arg-type]


def test_bounded_queue_raise(make_engine: Make) -> None:
    gate = Gate()
    engine = make_engine(workers=1, queue_size=2, on_full="raise")
    engine.start()
    engine.enqueue(gate.task)
    assert gate.wait_started(1)
    engine.enqueue(lambda: None)
    engine.enqueue(lambda: None)
    before = engine.stats().enqueued
    with pytest.raises(QueueFull):
        engine.enqueue(lambda: None)
    assert engine.stats().enqueued == before
    gate.open()
    assert engine.join(5)
    assert engine.stats().done == 3
    again = engine.enqueue(lambda: None)  # room again
    assert again == before + 1
    assert engine.join(5)
    assert engine.stats().done == 4


def test_aenqueue_waits_for_room_without_blocking_the_loop(make_engine: Make) -> None:
    gate = Gate()
    engine = make_engine(workers=1, queue_size=1)
    engine.start()
    engine.enqueue(gate.task)
    assert gate.wait_started(1)
    engine.enqueue(lambda: None)  # the queue is now full

    async def scenario() -> tuple[int, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.005)

        ticking = asyncio.create_task(ticker())
        waiting = asyncio.create_task(engine.aenqueue(lambda: None))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        gate.open()
        task_id = await asyncio.wait_for(waiting, 5)
        ticking.cancel()
        return ticks, task_id

    ticks, task_id = asyncio.run(scenario())
    assert ticks >= 10  # the loop kept running while aenqueue waited
    assert task_id == 3


def test_aenqueue_gives_up_after_its_timeout(make_engine: Make) -> None:
    gate = Gate()
    engine = make_engine(workers=1, queue_size=1)
    engine.start()
    engine.enqueue(gate.task)
    assert gate.wait_started(1)
    engine.enqueue(lambda: None)
    started = time.perf_counter()
    with pytest.raises(QueueFull):
        asyncio.run(engine.aenqueue(lambda: None, timeout=0.05))
    assert 0.04 <= time.perf_counter() - started < 1
    assert engine.stats().enqueued == 2
    gate.open()


def test_name_appears_in_thread_names(make_engine: Make) -> None:
    names: list[str] = []
    engine = make_engine(name="mail", workers=2)
    engine.start()
    engine.enqueue(lambda: names.append(threading.current_thread().name))
    assert engine.join(5)
    assert names[0].startswith("tasq-mail-worker-")


def test_failures_are_logged_with_task_id_and_traceback(make_engine: Make, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="tasq")
    engine = make_engine(max_retry=2)
    engine.start()

    def boom() -> None:
        raise ValueError("bad payload")

    failing = engine.enqueue(boom)
    retrying = engine.enqueue(raising(RetryTask("later")))
    assert engine.join(5)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    failed = next(r for r in errors if r.task_id == failing)  # type: ignore[attr-defined]
    assert failed.exc_info is not None and "bad payload" in failed.getMessage()
    assert "boom" in failed.getMessage()
    assert any(r.task_id == retrying for r in warnings)  # type: ignore[attr-defined]
    assert any(r.task_id == retrying and "MaxRetryExceeded" in r.getMessage() for r in errors)  # type: ignore[attr-defined]
    assert all(hasattr(r, "task_id") for r in caplog.records)


def test_a_logger_that_drops_records_gets_none_and_the_callbacks_still_see_each_error(
    make_engine: Make, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.CRITICAL, logger="tasq")
    rec = Recorder()
    engine = make_engine(max_retry=2, on_done=rec.on_done, on_failed=rec.on_failed)
    engine.start()
    failing = engine.enqueue(raising(ValueError("bad payload")))
    retrying = engine.enqueue(raising(RetryTask("later")))
    assert rec.wait(2)
    assert engine.join(5)
    assert isinstance(rec.error(failing), ValueError)
    assert isinstance(rec.error(retrying), MaxRetryExceeded)
    assert [r for r in caplog.records if r.name == "tasq"] == []


def test_the_failure_record_carries_the_exception_object_itself(
    make_engine: Make, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="tasq")
    rec = Recorder()
    engine = make_engine(on_done=rec.on_done, on_failed=rec.on_failed)
    engine.start()
    task_id = engine.enqueue(raising(ValueError("bad payload")))
    assert rec.wait(1)
    assert engine.join(5)  # the record is made after on_failed returns
    [record] = [r for r in caplog.records if getattr(r, "task_id", None) == task_id]
    assert record.exc_info is not None and record.exc_info[1] is rec.error(task_id)
    assert record.exc_info[2] is not None  # the traceback, for the handler to format


def test_eager_mode_runs_inline_with_the_same_reports() -> None:
    rec = Recorder()
    engine = TasQ(eager=True, results=10, max_retry=3, retry_delay=60, on_done=rec.on_done, on_failed=rec.on_failed)
    caller = threading.current_thread()
    seen: list[threading.Thread] = []
    attempts: list[int] = []

    def retry_twice() -> str:
        seen.append(threading.current_thread())
        attempts.append(1)
        if len(attempts) < 3:
            raise RetryTask
        return "ok"

    task_id = engine.enqueue(retry_twice, delay=30)  # delays are skipped
    assert rec.done[task_id] == 1 and seen == [caller] * 3
    result = engine.result(task_id)
    assert result is not None and (result.status, result.attempts, result.return_value) == (TaskStatus.DONE, 3, "ok")
    failed = engine.enqueue(lambda: 1 / 0)
    assert isinstance(rec.error(failed), ZeroDivisionError)
    assert engine.stats().done == 1 and engine.stats().failed == 1
    assert not [t for t in threading.enumerate() if t.name.startswith("tasq-default-worker")]
    engine.close()


def test_repr_says_state() -> None:
    engine = TasQ(name="x", workers=2)
    assert repr(engine) == "<TasQ 'x' new workers=2>"
    engine.close()
    assert "closed" in repr(engine)


def test_enqueue_shows_its_documented_signature_and_refuses_unknown_options(make_engine: Make) -> None:
    import inspect

    parameters = inspect.signature(TasQ.enqueue).parameters
    assert list(parameters) == ["self", "task", "delay", "priority", "timeout"]
    assert all(parameters[name].kind is inspect.Parameter.KEYWORD_ONLY for name in ("delay", "priority", "timeout"))
    engine = make_engine()
    with pytest.raises(TypeError, match=r"enqueue\(\) got an unexpected keyword argument 'dealy'"):
        engine.enqueue(lambda: None, dealy=3)  # type: ignore[call-arg]
    assert engine.stats().enqueued == 0


def test_the_constructor_shows_and_documents_its_parameters() -> None:
    import inspect

    parameters = inspect.signature(TasQ).parameters
    expected = ["workers", "max_retry", "retry_delay", "queue_size", "on_full", "on_done", "on_failed", "results"]
    assert list(parameters)[: len(expected) + 1] == [*expected, "name"]
    assert {"eager", "autostart", "shutdown_timeout", "backend", "broker_url"} <= set(parameters)
    assert parameters["workers"].default == 10
    assert parameters["backend"].default == "thread"
    doc = inspect.getdoc(TasQ) or ""
    undocumented = [name for name in parameters if f"``{name}``" not in doc]
    assert undocumented == []
