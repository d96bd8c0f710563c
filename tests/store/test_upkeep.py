"""Pruning and checkpoints keep the file and its WAL bounded; ids are never given twice."""

from __future__ import annotations

import os

import pytest

from tasq.store import Journal, Outcome

from .conftest import task

pytestmark = pytest.mark.timeout(60)


def finish_all(journal: Journal) -> None:
    while rows := journal.claim("default", "me", 500):
        journal.finish("me", [Outcome(task_id=r.id, attempt=r.attempt, state="done") for r in rows])


def test_prune_keeps_the_newest_finished_rows_and_never_pending_ones(journal: Journal) -> None:
    journal.add_many([task() for _ in range(100)])
    finish_all(journal)
    waiting = journal.add_many([task() for _ in range(5)])
    assert journal.prune("default", keep=10) == 90
    stats = journal.stats("default")
    assert (stats.done, stats.pending) == (10, 5)
    assert [r.id for r in journal.listing("default", "done", limit=100)] == list(range(100, 90, -1))
    assert journal.listing("default", "pending", limit=10)[0].id == waiting[0]


def test_ids_keep_increasing_after_everything_is_pruned(journal: Journal) -> None:
    journal.add_many([task() for _ in range(10)])
    finish_all(journal)
    journal.prune("default", keep=0)
    assert journal.stats("default").done == 1  # the newest row stays, holding the highest id
    assert journal.add([task()]) == [11]


def test_the_file_and_the_wal_stop_growing_with_pruning(journal: Journal) -> None:
    sizes = []
    for _ in range(6):
        journal.add_many([task("app.tasks.send", "x" * 200) for _ in range(2000)])
        finish_all(journal)
        journal.prune("default", keep=100)
        sizes.append(os.path.getsize(journal.path))
        wal = journal.path.with_name(journal.path.name + "-wal")
        assert not wal.exists() or os.path.getsize(wal) <= 16 * 1024 * 1024
    assert sizes[-1] <= sizes[1] * 1.1, sizes
    assert journal.checkpoint()[0] == 0  # truncated: nothing left in the WAL
