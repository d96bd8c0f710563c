"""cancel, retry and periodic slots at the journal, from any process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from tasq.store import Journal, Outcome

from .conftest import task

pytestmark = pytest.mark.timeout(60)


def test_cancel_only_a_task_that_has_not_started(journal: Journal) -> None:
    pending, delayed, running = journal.add([task(), task(run_at=time.time() + 60), task(priority=9)])
    journal.claim("default", "me", 1)
    assert journal.cancel(pending)
    assert journal.cancel(delayed)
    assert not journal.cancel(pending)  # once
    assert not journal.cancel(running)
    assert not journal.cancel(999)
    assert [journal.result(i).state for i in (pending, delayed, running)] == ["cancelled", "cancelled", "running"]  # type: ignore[union-attr]
    assert journal.claim("default", "me", 10, now=time.time() + 61) == []


def test_cancel_racing_a_claim_has_one_winner(make_journal: Callable[..., Journal]) -> None:
    canceller, claimer = make_journal(), make_journal()  # two connections, as two processes
    canceller.open()
    claimer.open()
    cancelled: list[int] = []
    claimed: list[int] = []
    ids: list[int] = []
    for _ in range(50):  # rounds of a race, until each side has won some rows
        batch = canceller.add_many([task() for _ in range(200)])
        ids.extend(batch)
        start = threading.Barrier(2)

        def cancel_all(batch: list[int] = batch, start: threading.Barrier = start) -> None:
            start.wait()
            cancelled.extend(task_id for task_id in reversed(batch) if canceller.cancel(task_id))

        def claim_all(start: threading.Barrier = start) -> None:
            start.wait()
            while rows := claimer.claim("default", "me", 3):
                claimed.extend(row.id for row in rows)

        threads = [threading.Thread(target=cancel_all), threading.Thread(target=claim_all)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if cancelled and claimed:
            break
    assert cancelled and claimed
    assert sorted(cancelled + claimed) == ids  # each exactly one of the two
    stats = claimer.stats("default")
    assert (stats.cancelled, stats.running) == (len(cancelled), len(claimed))


def test_retry_a_failed_or_cancelled_task_as_a_new_row(journal: Journal) -> None:
    failed, cancelled, done, pending = journal.add(
        [
            task("app.tasks.send", "a@example.com", max_retry=4, priority=3),
            task(),
            task(),
            task(run_at=time.time() + 60),
        ]
    )
    journal.cancel(cancelled)
    journal.claim("default", "me", 2)
    journal.finish(
        "me",
        [
            Outcome(task_id=failed, attempt=1, state="failed", error_type="builtins.OSError"),
            Outcome(task_id=done, attempt=1, state="done"),
        ],
    )
    again = journal.retry(failed)
    assert again > pending
    record, original = journal.result(again), journal.result(failed)
    assert record is not None and original is not None
    assert (record.name, record.args, record.priority, record.max_retry) == (original.name, original.args, 3, 4)
    assert (record.state, record.attempts, record.retry_of) == ("pending", 0, failed)
    assert original.state == "failed"  # kept
    assert journal.retry(cancelled) > again
    with pytest.raises(ValueError, match="succeeded"):
        journal.retry(done)
    with pytest.raises(ValueError, match="is pending"):
        journal.retry(pending)
    with pytest.raises(ValueError, match="task 12345 is not known"):
        journal.retry(12345)


def test_a_periodic_slot_runs_once_whoever_claims_it(make_journal: Callable[..., Journal]) -> None:
    first, second = make_journal(), make_journal()
    won = first.claim_slot(1000, task("app.tick"), owner="a")
    assert won is not None
    assert second.claim_slot(1000, task("app.tick"), owner="b") is None
    assert second.claim_slot(1000, task("app.other"), owner="b") is not None  # another task's slot
    assert second.claim_slot(1001, task("app.tick"), owner="b") is not None
    assert first.stats("default").pending == 3


def test_cancel_pending_cancels_every_waiting_task_of_one_engine(journal: Journal) -> None:
    mine = journal.add([task(), task(run_at=time.time() + 60)])
    journal.add([task(engine="other")])
    assert journal.cancel_pending("default") == mine
    assert journal.stats("other").pending == 1
