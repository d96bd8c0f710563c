"""result, stats and listings, as any process sharing the store reads them."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tasq.store import Journal, Outcome

from .conftest import task

pytestmark = pytest.mark.timeout(30)


def test_another_journal_on_the_file_sees_every_state(make_journal: Callable[..., Journal]) -> None:
    writer, reader = make_journal(), make_journal()
    writer.add_many([task(max_retry=3) for _ in range(6)])
    writer.add([task(run_at=time.time() + 60)])
    one, two, three, _running = writer.claim("default", "me", 4)
    writer.finish(
        "me",
        [
            Outcome(task_id=one.id, attempt=1, state="done", return_value=[1, "two"]),
            Outcome(task_id=two.id, attempt=1, state="failed", error_type="builtins.ValueError", error_message="bad"),
        ],
    )
    writer.reschedule("me", three.id, 1, time.time(), None, None)
    writer.cancel(6)
    stats = reader.stats("default")
    assert (stats.pending, stats.delayed, stats.running, stats.done, stats.failed, stats.cancelled) == (
        3,
        1,
        1,
        1,
        1,
        1,
    )
    assert stats.total == 7
    record = reader.result(one.id)
    assert record is not None
    assert (record.state, record.return_value, record.attempts) == ("done", [1, "two"], 1)
    assert record.started_at is not None and record.finished_at is not None
    assert reader.result(999) is None
    assert reader.stats("nobody").total == 0


def test_listings_are_bounded_and_ordered_for_a_dashboard(journal: Journal) -> None:
    journal.add_many([task(priority=p) for p in (0, 5, 0, 5)])
    assert [r.id for r in journal.listing("default", "pending", limit=3)] == [2, 4, 1]
    rows = journal.claim("default", "me", 4)
    journal.finish("me", [Outcome(task_id=r.id, attempt=1, state="done") for r in rows])
    assert [r.id for r in journal.listing("default", "done", limit=2)] == [4, 3]
    assert journal.listing("default", "failed") == []
    with pytest.raises(ValueError, match="state must be one of"):
        journal.listing("default", "lost")  # type: ignore[arg-type]


def test_next_run_at_is_the_earliest_pending(journal: Journal) -> None:
    assert journal.next_run_at("default") is None
    at = time.time() + 30
    journal.add([task(run_at=at + 10), task(run_at=at)])
    assert journal.next_run_at("default") == pytest.approx(at)
