"""The engine contract, for every engine a task can run on.

Each test runs seven times: the thread engine, the thread engine with a store (an SQLite
file), Dramatiq's in-memory broker with its worker in this process, and real Redis and
RabbitMQ with a ``tasq worker`` subprocess, on Dramatiq and on Celery (skipped, with the
reason, when the service is down). What cannot hold on one of them says so.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from tasq import TaskStatus, TasQClosed, use_engine
from tests.backends import tasks
from tests.backends.conftest import Harness

pytestmark = [pytest.mark.timeout(30), pytest.mark.services]


def test_ids_are_distinct_increasing_ints_and_each_is_done_once(contract: Harness) -> None:
    engine = contract.make()
    ids = [engine.enqueue(tasks.add.task(i, i)) for i in range(20)]
    assert all(type(task_id) is int and 0 < task_id < 2**63 for task_id in ids)
    assert ids == sorted(ids) and len(set(ids)) == 20
    assert contract.events.wait(ids)
    contract.events.assert_once_each(ids)
    assert [contract.events.outcome(task_id)["value"] for task_id in ids] == [2 * i for i in range(20)]


def test_submit_and_background_enqueue_send_the_same_task(contract: Harness) -> None:
    engine = contract.make()
    with use_engine(engine):
        ids = [engine.submit(tasks.add, 2, 3), tasks.add.enqueue(4, b=5), tasks.renamed.enqueue(21)]
    ids.append(engine.enqueue(tasks.async_double.task(8)))
    assert contract.events.wait(ids)
    contract.events.assert_once_each(ids)
    assert [contract.events.outcome(task_id)["value"] for task_id in ids] == [5, 9, 42, 16]


def test_an_error_fails_the_task_at_once_without_a_retry(contract: Harness) -> None:
    engine = contract.make(max_retry=5)
    task_id = engine.enqueue(tasks.fail.task("ValueError"))
    assert contract.events.wait([task_id])
    contract.events.assert_once_each([task_id])
    assert contract.events.outcome(task_id)["error"] == "ValueError"
    assert len(contract.events.of(task_id, "start")) == 1
    assert not contract.events.of(task_id, "retry")


def test_base_exceptions_fail_only_their_task(contract: Harness) -> None:
    engine = contract.make()
    ids = [engine.enqueue(tasks.fail.task(kind)) for kind in ("KeyboardInterrupt", "SystemExit")]
    ids += [engine.enqueue(tasks.add.task(i, 1)) for i in range(10)]
    assert contract.events.wait(ids)
    contract.events.assert_once_each(ids)
    assert [contract.events.outcome(task_id)["event"] for task_id in ids] == ["failed"] * 2 + ["done"] * 10


def test_retry_task_retries_until_the_task_succeeds(contract: Harness) -> None:
    engine = contract.make(max_retry=3)
    task_id = engine.enqueue(tasks.retry_until.task(contract.key(), 3))
    assert contract.events.wait([task_id])
    contract.events.assert_once_each([task_id])
    assert contract.events.outcome(task_id)["value"] == 3
    assert [e["attempt"] for e in contract.events.of(task_id, "start")] == [1, 2, 3]
    assert len(contract.events.of(task_id, "retry")) == 2


def test_max_retry_bounds_the_attempts_engine_wide_and_per_function(contract: Harness) -> None:
    engine = contract.make(max_retry=2)
    by_engine = engine.enqueue(tasks.retry_until.task(contract.key(), 5))
    by_function = engine.enqueue(tasks.always_retry.task())  # @background(max_retry=2)
    assert contract.events.wait([by_engine, by_function])
    for task_id in (by_engine, by_function):
        outcome = contract.events.outcome(task_id)
        assert (outcome["error"], outcome["cause"]) == ("MaxRetryExceeded", "RetryTask")
        assert [e["attempt"] for e in contract.events.of(task_id, "start")] == [1, 2]
    contract.events.assert_once_each([by_engine, by_function])


def test_retry_delays_are_waited_out(contract: Harness) -> None:
    engine = contract.make(retry_delay=0.3)
    by_engine = engine.enqueue(tasks.retry_until.task(contract.key(), 2))
    by_task = engine.enqueue(tasks.retry_once_after.task(contract.key(), 0.3))  # RetryTask(delay=0.3)
    assert contract.events.wait([by_engine, by_task])
    for task_id in (by_engine, by_task):
        first, second = (e["t"] for e in contract.events.of(task_id, "start"))
        assert second - first >= 0.25  # not before its delay; how much later is the broker's business
    contract.events.assert_once_each([by_engine, by_task])


def test_a_delayed_task_does_not_run_before_its_time(contract: Harness) -> None:
    engine = contract.make()
    sent = datetime.now().astimezone()
    task_id = engine.enqueue(tasks.add.task(1, 1), delay=timedelta(seconds=0.3))
    assert contract.events.wait([task_id])
    (start,) = contract.events.of(task_id, "start")
    assert start["t"] - sent.timestamp() >= 0.25


def test_arguments_and_results_make_the_json_round_trip(contract: Harness) -> None:
    engine = contract.make()
    payload = {"text": "café ✓", "numbers": [0, -1, 2.5, 2**62], "nested": {"empty": [], "none": None, "yes": True}}
    task_id = engine.enqueue(tasks.echo.task(payload))
    assert contract.events.wait([task_id])
    assert contract.events.outcome(task_id)["value"] == payload


@pytest.mark.parametrize(
    ("argument", "why"),
    [
        ((1, 2), "a tuple arrives as a list"),
        ({1: "one"}, "would arrive as the str '1'"),
        ({"a"}, "set is not a JSON type"),
        (datetime(2026, 1, 1), "datetime is not a JSON type"),
        (float("nan"), "is not a JSON number"),
        ([object()], r"argument 0\[0\]"),
    ],
)
def test_arguments_json_cannot_carry_are_refused_and_nothing_is_sent(
    contract: Harness, argument: object, why: str
) -> None:
    if contract.kind == "thread":
        pytest.skip("the thread engine hands arguments over by reference: any object goes")
    engine = contract.make()
    with pytest.raises(TypeError, match=why):
        engine.enqueue(tasks.echo.task(argument))
    assert engine.stats().enqueued == 0


def test_bad_input_is_refused_at_enqueue(contract: Harness) -> None:
    engine = contract.make()
    with pytest.raises(TypeError):
        engine.enqueue(None)
    with pytest.raises(TypeError):
        engine.enqueue("not a task")
    with pytest.raises(ValueError, match="delay"):
        engine.enqueue(tasks.add.task(1, 1), delay=-1)
    with pytest.raises(ValueError, match="timezone-aware"):
        engine.enqueue(tasks.add.task(1, 1), delay=datetime(2030, 1, 1))
    with pytest.raises(ValueError, match="priority"):
        engine.enqueue(tasks.add.task(1, 1), priority=101)
    assert engine.stats().enqueued == 0


def test_a_closed_engine_refuses_tasks(contract: Harness) -> None:
    engine = contract.make()
    engine.close()
    with pytest.raises(TasQClosed):
        engine.enqueue(tasks.add.task(1, 1))


def test_result_and_join_see_the_outcome(contract: Harness) -> None:
    engine = contract.make(results=10)
    done, failed = engine.enqueue(tasks.add.task(20, 22)), engine.enqueue(tasks.fail.task("ValueError"))
    if contract.broker == "rabbitmq":
        assert engine.join(5) is False  # no store beside RabbitMQ: it cannot tell, and says so at once
        assert engine.result(done) is None
        assert contract.events.wait([done, failed])
        return
    assert engine.join(15)
    ok, bad = engine.result(done), engine.result(failed)
    assert ok is not None and bad is not None
    assert (ok.status, ok.return_value, ok.attempts) == (TaskStatus.DONE, 42, 1)
    assert bad.status is TaskStatus.FAILED and "a ValueError on purpose" in str(bad.error)
    assert ok.enqueued_at <= ok.started_at <= ok.finished_at  # type: ignore[operator]


def test_hooks_and_callbacks_fire_where_the_task_runs(contract: Harness) -> None:
    engine = contract.make()
    task_id = engine.enqueue(tasks.add.task(1, 2))
    assert contract.events.wait([task_id])
    (enqueued,) = contract.events.of(task_id, "enqueued")
    assert enqueued["pid"] == os.getpid()  # after_enqueue: in the process that enqueued
    ran = {e["pid"] for e in contract.events.of(task_id) if e["event"] != "enqueued"}
    assert len(ran) == 1
    assert (ran == {os.getpid()}) is (not contract.remote)
    if contract.worker is not None:
        assert ran == {int(contract.worker.log().split("[PID ")[2].split("]")[0])}


def test_a_failure_is_logged_at_error_with_its_task_id(contract: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="tasq")
    engine = contract.make()
    task_id = engine.enqueue(tasks.fail.task("ValueError"))
    assert contract.events.wait([task_id])
    # The line follows the on_failed callback: wait for it too.
    if contract.worker is not None:
        line = f"[ERROR] engine {engine.name!r}: task {task_id} (tests.backends.tasks.fail) failed: ValueError"
        assert wait_for(lambda: line in contract.worker.log())  # type: ignore[union-attr]
        return
    assert wait_for(lambda: any(getattr(r, "task_id", None) == task_id for r in caplog.records))
    (record,) = [r for r in caplog.records if getattr(r, "task_id", None) == task_id]
    assert record.levelno == logging.ERROR and record.exc_info is not None


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# -- task control: what each engine supports is its capability flags' and its broker's ------


def test_cancel_of_a_delayed_task_reports_it_cancelled_once(contract: Harness) -> None:
    engine = contract.make()
    task_id = engine.enqueue(tasks.add.task(1, 2), delay=1.5)
    marked = engine.cancel(task_id)
    if contract.broker == "rabbitmq":  # no ledger beside the broker: a sent message stays sent
        assert marked is False
        assert contract.events.wait([task_id])
        assert contract.events.outcome(task_id)["event"] == "done"
        return
    assert engine.supports_cancel and marked is True
    assert engine.cancel(task_id) is False  # once
    assert contract.events.wait([task_id])
    contract.events.assert_once_each([task_id])
    assert contract.events.outcome(task_id)["error"] == "TaskCancelled"
    assert not contract.events.of(task_id, "start")


def test_cancel_of_a_finished_or_unknown_task_is_false_and_bad_ids_are_refused(contract: Harness) -> None:
    engine = contract.make()
    task_id = engine.enqueue(tasks.add.task(1, 2))
    assert contract.events.wait([task_id])
    assert engine.cancel(task_id) is False
    assert engine.cancel(task_id + 10**9) is False
    contract.events.assert_once_each([task_id])
    for bad, error in (("12", TypeError), (True, TypeError), (0, ValueError), (-3, ValueError)):
        with pytest.raises(error, match="task_id"):
            engine.cancel(bad)  # type: ignore[arg-type]


def test_retry_enqueues_a_failed_task_again_as_a_new_id(contract: Harness) -> None:
    engine = contract.make(results=50)
    failed = engine.enqueue(tasks.fail.task("ValueError"))
    done = engine.enqueue(tasks.add.task(2, 2))
    assert contract.events.wait([failed, done])
    if contract.broker == "rabbitmq":  # no record to read the call from
        with pytest.raises(ValueError, match="retry"):
            engine.retry(failed)
        return
    again = engine.retry(failed)
    assert again != failed
    assert contract.events.wait([again])
    assert contract.events.outcome(again)["error"] == "ValueError"
    kept = engine.result(failed)
    assert kept is not None and kept.status is TaskStatus.FAILED
    with pytest.raises(ValueError, match="succeeded"):
        engine.retry(done)
    with pytest.raises(ValueError, match="not known"):
        engine.retry(again + 10**9)


def test_time_limit_fails_a_busy_task_and_a_hanging_coroutine_and_the_worker_goes_on(contract: Harness) -> None:
    engine = contract.make()
    assert engine.supports_time_limit
    started = time.monotonic()
    limited = [engine.enqueue(tasks.spin.task(30.0)), engine.enqueue(tasks.hang.task(30.0))]
    assert contract.events.wait(limited, timeout=20)
    assert time.monotonic() - started < 15
    for task_id in limited:
        outcome = contract.events.outcome(task_id)
        assert outcome["event"] == "failed" and outcome["error"] == "TimeLimitExceeded"
        assert len(contract.events.of(task_id, "start")) == 1  # not retried
    after = [engine.enqueue(tasks.add.task(i, 1)) for i in range(20)]
    assert contract.events.wait(after)
    assert [contract.events.outcome(task_id)["value"] for task_id in after] == [i + 1 for i in range(20)]


def test_enqueue_many_accepts_all_in_order_or_none(contract: Harness) -> None:
    engine = contract.make()
    ids = engine.enqueue_many([tasks.add.task(i, i) for i in range(5)])
    assert ids == sorted(ids) and len(set(ids)) == 5
    assert contract.events.wait(ids)
    assert [contract.events.outcome(task_id)["value"] for task_id in ids] == [2 * i for i in range(5)]
    before = len(contract.events.all())
    with pytest.raises(TypeError, match=r"tasks\[1\]"):
        engine.enqueue_many([tasks.add.task(1, 1), object(), tasks.add.task(2, 2)])
    time.sleep(0.2)  # nothing was sent: no event may follow
    assert not [e for e in contract.events.all()[before:] if e["event"] == "enqueued"]
