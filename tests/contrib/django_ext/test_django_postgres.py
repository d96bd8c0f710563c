"""Promise 11 (docs/reliability.md): Django connections on a real PostgreSQL stay flat and never poison a task."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection, transaction
from django.test import override_settings

import tasq
from tasq.contrib.django import get_engine
from tests.conftest import scaled
from tests.contrib.django_ext.testapp import tasks
from tests.contrib.django_ext.testapp.models import Item
from tests.services import POSTGRES_URL, require

pytestmark = [pytest.mark.timeout(300), pytest.mark.django_db(transaction=True)]


class Sessions:
    """Polls pg_stat_activity for the sessions on the test database, from a connection of its own."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.monitor = psycopg.connect(POSTGRES_URL, autocommit=True)  # on another database: not counted
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="pg-sessions")

    def count(self) -> int:
        row = self.monitor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (self.database,))
        return int(row.fetchone()[0])  # type: ignore[index]

    def _poll(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self.count())

    def __enter__(self) -> Sessions:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.fixture
def sessions() -> Iterator[Sessions]:
    require("PostgreSQL")
    assert connection.vendor == "postgresql", "DATABASES['default'] is SQLite although PostgreSQL answers"
    Item.objects.exists()  # this thread's own session: part of the baseline
    watcher = Sessions(connection.settings_dict["NAME"])
    try:
        yield watcher
    finally:
        watcher.monitor.close()


@pytest.mark.stress
def test_orm_tasks_on_eight_workers_keep_sessions_flat_and_close_them(sessions: Sessions) -> None:
    n = scaled(10_000)
    baseline = sessions.count()
    with override_settings(TASQ={"WORKERS": 8}), sessions:
        engine = get_engine()
        ids = [tasks.add_item.enqueue(number) for number in range(n)]
        assert engine.join(240)
        assert engine.stats().done == len(ids) == n
        during = sessions.peak
        print(f"sessions: baseline {baseline}, peak {during} with 8 workers, {n:,} ORM tasks")
    # The engine closed with the override: each worker closed its connection as it exited.
    deadline = time.monotonic() + 5
    while sessions.count() != baseline and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sessions.count() == baseline
    assert baseline <= during <= 8 + 1
    assert during > baseline  # the workers did hold sessions: the count measured them
    assert Item.objects.count() == n
    assert set(Item.objects.values_list("number", flat=True)) == set(range(n))


@tasq.background
def leave_autocommit_off_in_an_aborted_transaction() -> None:
    transaction.set_autocommit(False)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1/0")


@tasq.background
def leave_an_atomic_block_open() -> None:
    transaction.atomic().__enter__()
    Item.objects.create(number=-1)


@tasq.background
def abort_a_raw_transaction() -> None:
    with connection.cursor() as cursor:
        cursor.execute("BEGIN")
        try:
            cursor.execute("SELECT 1/0")
        except Exception:
            pass  # swallowed: the session is left inside an aborted transaction


@tasq.background
def count_items() -> tuple[int, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    return pid, Item.objects.count()


def test_a_task_that_breaks_its_transaction_does_not_poison_the_next_one(
    sessions: Sessions, caplog: pytest.LogCaptureFixture
) -> None:
    with override_settings(TASQ={"WORKERS": 1, "RESULTS": 100}):  # one thread: the next task reuses it
        engine = get_engine()
        first = engine.enqueue(count_items.task())
        breakers = [leave_autocommit_off_in_an_aborted_transaction, leave_an_atomic_block_open, abort_a_raw_transaction]
        after: list[int] = []
        for breaker in breakers:
            breaker.enqueue()
            after.append(count_items.enqueue())
        assert engine.join(30)
        results = [engine.result(task_id) for task_id in (first, *after)]
    assert all(result is not None and result.error is None for result in results), results
    pids = [result.return_value[0] for result in results]  # type: ignore[index, union-attr]
    counts = [result.return_value[1] for result in results]  # type: ignore[index, union-attr]
    assert counts == [0, 0, 0, 0]  # the row made in the abandoned atomic block was rolled back
    assert len(set(pids)) == 4  # each broken session was replaced by a new one
    left_open = [r.task_id for r in caplog.records if "left a transaction open" in r.getMessage()]  # type: ignore[attr-defined]
    assert left_open == [task_id - 1 for task_id in after]  # each breaker, once
