"""Claims, leases, outcomes and recovery at the journal."""

from __future__ import annotations

import threading
import time

import pytest

from tasq.exceptions import WorkerLost
from tasq.store import Journal, Outcome

from .conftest import task

pytestmark = pytest.mark.timeout(30)

WORKER_LOST = f"{WorkerLost.__module__}.{WorkerLost.__qualname__}"


def test_claims_due_rows_by_priority_then_id_once(journal: Journal) -> None:
    now = time.time()
    low, high, later, other = journal.add(
        [task(priority=-5), task(priority=7), task(run_at=now + 60, priority=100), task(engine="reports")]
    )
    last = journal.add([task(priority=7)])[0]
    claimed = journal.claim("default", "one", 10)
    assert [row.id for row in claimed] == [high, last, low]
    assert all(row.attempt == 1 for row in claimed)
    assert journal.claim("default", "two", 10) == []  # each row once; `later` is not due
    assert [row.id for row in journal.claim("default", "two", 10, now=now + 61)] == [later]
    assert [row.id for row in journal.claim("reports", "two", 10)] == [other]


def test_a_claim_takes_at_most_limit(journal: Journal) -> None:
    journal.add_many([task() for _ in range(25)])
    assert [len(journal.claim("default", "one", 10)) for _ in range(4)] == [10, 10, 5, 0]


def test_rows_added_with_an_owner_are_already_its_running_attempt(journal: Journal) -> None:
    (task_id,) = journal.add([task()], owner="me", lease=30)
    record = journal.result(task_id)
    assert record is not None
    assert (record.state, record.attempts, record.lease_owner) == ("running", 1, "me")
    assert journal.claim("default", "other", 10) == []
    delayed = journal.add([task(run_at=time.time() + 60)], owner="me")[0]
    assert journal.result(delayed).state == "pending"  # type: ignore[union-attr]


def test_finish_records_values_and_errors_and_refuses_a_run_it_no_longer_holds(journal: Journal) -> None:
    journal.add_many([task() for _ in range(4)])
    ok, failed, unserialisable, stale = journal.claim("default", "me", 10)
    outcomes = [
        Outcome(task_id=ok.id, attempt=1, state="done", return_value={"sent": 3}),
        Outcome(task_id=failed.id, attempt=1, state="failed", error_type="builtins.KeyError", error_message="'to'"),
        Outcome(task_id=unserialisable.id, attempt=1, state="done", return_value={1, 2}),
        Outcome(task_id=stale.id, attempt=2, state="done"),  # not the attempt it holds
    ]
    assert journal.finish("me", outcomes) == [True, True, True, False]
    assert journal.finish("someone else", [Outcome(task_id=stale.id, attempt=1, state="done")]) == [False]
    records = [journal.result(row.id) for row in (ok, failed, unserialisable, stale)]
    assert [r.state for r in records if r] == ["done", "failed", "done", "running"]
    assert records[0].return_value == {"sent": 3}  # type: ignore[union-attr]
    assert records[1].error_type == "builtins.KeyError"  # type: ignore[union-attr]
    assert (records[2].return_value, records[2].return_repr) == (None, "{1, 2}")  # type: ignore[union-attr]


def test_reschedule_waits_for_run_at_and_counts_attempts(journal: Journal) -> None:
    (task_id,) = journal.add([task(max_retry=3)])
    now = time.time()
    (run,) = journal.claim("default", "me", 1, now=now)
    assert journal.reschedule("me", task_id, run.attempt, now + 5, "tasq.exceptions.RetryTask", "again")
    assert journal.claim("default", "me", 1, now=now + 4) == []
    (second,) = journal.claim("default", "me", 1, now=now + 5)
    assert second.attempt == 2
    assert not journal.reschedule("me", task_id, 1, now, None, None)  # a stale attempt


def test_renew_extends_only_the_owners_leases(journal: Journal) -> None:
    journal.add_many([task(max_retry=2) for _ in range(3)])
    now = time.time()
    journal.claim("default", "alive", 2, now=now, lease=10)
    journal.claim("default", "dead", 1, now=now, lease=10)
    assert journal.renew("alive", lease=10, now=now + 8) == 2
    assert journal.recover("default", now=now + 11) == ([3], [])  # only the dead owner's row
    assert [row.id for row in journal.claim("default", "alive", 5, now=now + 11)] == [3]


def test_a_lapsed_lease_counts_as_an_attempt_and_fails_when_none_is_left(journal: Journal) -> None:
    rerun, last_try, never_twice = journal.add(
        [task(max_retry=2), task(max_retry=1), task(max_retry=5, rerun_lost=False)]
    )
    now = time.time()
    journal.claim("default", "dead", 10, now=now, lease=1)
    assert journal.recover("default", now=now + 0.5) == ([], [])  # live leases are left alone
    assert journal.recover("default", now=now + 2) == ([rerun], [last_try, never_twice])
    for task_id in (last_try, never_twice):
        record = journal.result(task_id)
        assert record is not None
        assert (record.state, record.error_type, record.lease_owner) == ("failed", WORKER_LOST, None)
    (again,) = journal.claim("default", "alive", 10, now=now + 2)
    assert (again.id, again.attempt) == (rerun, 2)
    journal.claim("default", "alive", 10, now=now + 2)
    assert journal.finish("dead", [Outcome(task_id=rerun, attempt=1, state="done")]) == [False]  # fenced
    assert journal.finish("alive", [Outcome(task_id=rerun, attempt=2, state="done")]) == [True]


def test_threads_asking_for_the_owner_at_once_get_one_name(journal: Journal) -> None:
    names: set[str] = set()
    start = threading.Barrier(8)

    def ask() -> None:
        start.wait()
        names.add(journal.owner)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(names) == 1


def test_release_gives_back_runs_that_never_started_uncounted(journal: Journal) -> None:
    first, second = journal.add([task(max_retry=1), task(max_retry=1)], owner="closing")
    assert journal.release("closing", [first, second, 999]) == [first, second]
    assert journal.release("someone else", [first]) == []
    rows = journal.claim("default", "next", 10)
    assert [(row.id, row.attempt) for row in rows] == [(first, 1), (second, 1)]
    assert journal.release("closing", [first]) == []  # no longer its run
