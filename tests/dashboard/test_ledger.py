"""The dashboard of a web process whose engine sends to Dramatiq over Redis: a real ``tasq
worker`` subprocess runs the tasks, and the dashboard shows them from the Redis ledger."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tasq import TasQ
from tasq.dashboard import (
    DashboardSource,
    LedgerSource,
    MemorySource,
    Snapshot,
    source_for,
)
from tests.backends import tasks
from tests.backends.conftest import WorkerProcess, clean_redis
from tests.dashboard.support import admin_asker, wait_until
from tests.services import REDIS_URL, require

pytestmark = [pytest.mark.timeout(90), pytest.mark.services]

ENGINE = f"dash-ledger-{uuid.uuid4().hex[:8]}"
ADD = "tests.backends.tasks.add"
FAIL = "tests.backends.tasks.fail"
SLEEP = "tests.backends.tasks.sleep_then"


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[WorkerProcess]:
    require("Redis")
    process = WorkerProcess(REDIS_URL, tmp_path / "worker", engine=ENGINE)
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()
        clean_redis(ENGINE)


@pytest.fixture
def web() -> Iterator[TasQ]:
    engine = TasQ(backend="dramatiq", broker_url=REDIS_URL, name=ENGINE, results=100)
    yield engine
    engine.close(timeout=10)


def _when(source: DashboardSource, check: Callable[[Snapshot], object], what: str) -> Snapshot:
    """The first snapshot that passes ``check``."""

    def passing() -> Snapshot | None:
        snapshot = source.snapshot()
        return snapshot if check(snapshot) else None

    found: Snapshot = wait_until(passing, what=what)
    return found


def _name(snapshot: Snapshot, name: str) -> object:
    return next((summary for summary in snapshot.names if summary.name == name), None)


def test_a_broker_engine_shows_what_its_workers_ran(worker: WorkerProcess, web: TasQ) -> None:
    source = source_for(web)
    assert isinstance(source, LedgerSource) and source.can_cancel and source.can_retry
    web.start()
    added = [web.enqueue(tasks.add.task(n, 1)) for n in range(3)]
    failed = web.enqueue(tasks.fail.task("ValueError"))
    slow = web.enqueue(tasks.sleep_then.task(1.5, 7))
    delayed = web.enqueue(tasks.add.task(40, 2), delay=60)

    running = wait_until(
        lambda: next((line for line in source.snapshot().running if line.task_id == slow), None),
        what="the slow task running in the worker",
    )
    assert (running.name, running.state, running.attempt) == (SLEEP, "running", 1)
    assert running.started_at is not None and running.enqueued_at is not None
    waiting = {line.task_id: line for line in source.snapshot().waiting}
    assert (waiting[delayed].name, waiting[delayed].state) == (ADD, "pending")

    snapshot = _when(
        source, lambda s: _name(s, SLEEP) and _name(s, FAIL) and s.stats.done >= 4, "every task to finish in the worker"
    )
    by_name = {summary.name: summary for summary in snapshot.names}
    assert (by_name[ADD].done, by_name[ADD].failed, by_name[FAIL].failed, by_name[SLEEP].done) == (3, 0, 1, 1)
    p50 = by_name[SLEEP].p50
    assert p50 is not None and 1.4 < p50 < 10
    assert snapshot.stats.enqueued >= 6 and snapshot.stats.pending == 1 and snapshot.stats.running == 0
    assert snapshot.scope == "every process sharing the broker's Redis"
    (failure,) = snapshot.failures
    assert (failure.task_id, failure.name, failure.error) == (failed, FAIL, "ValueError: a ValueError on purpose")
    assert "ValueError" in failure.traceback and failure.args == "'ValueError'" and not failure.cancelled
    assert source.snapshot(args=False).failures[0].args is None
    assert not set(added) & {line.task_id for line in (*snapshot.running, *snapshot.waiting)}

    # Another web process (another engine of the same name, which sent nothing) sees the same.
    other = TasQ(backend="dramatiq", broker_url=REDIS_URL, name=ENGINE, results=100)
    try:
        seen = LedgerSource(other).snapshot()
        assert {summary.name for summary in seen.names} == {ADD, FAIL, SLEEP}
        assert [line.task_id for line in seen.waiting] == [delayed]
    finally:
        other.close(timeout=5)

    # The actions, through the dashboard's own JSON and POST handling.
    ask = admin_asker(source)

    status, body = ask("GET", "/data.json")
    shown = json.loads(body)
    assert status == 200 and shown["engine"] == ENGINE and shown["failures"][0]["name"] == FAIL
    assert ask("POST", f"/tasks/{delayed}/cancel")[0] == 303  # done: back to the page
    assert delayed not in [line.task_id for line in source.snapshot().waiting]
    assert ask("POST", f"/tasks/{delayed}/cancel")[0] == 409  # marked already: nothing changes
    assert ask("POST", f"/tasks/{failed}/retry")[0] == 303
    retried = wait_until(
        lambda: next((f for f in source.snapshot().failures if f.task_id == failed and f.retried_as), None),
        what="the failure to say it was retried",
    )
    assert retried.retried_as is not None and retried.retried_as > failed
    assert ask("POST", f"/tasks/{added[0]}/retry")[0] == 409  # it succeeded


def test_a_ledger_source_made_after_start_shows_failed_names_only(worker: WorkerProcess) -> None:
    engine = TasQ(backend="dramatiq", broker_url=REDIS_URL, name=ENGINE, results=10)
    try:
        engine.start()
        source = LedgerSource(engine)
        done = engine.enqueue(tasks.add.task(1, 2))
        failed = engine.enqueue(tasks.fail.task("ValueError"))
        snapshot = _when(source, lambda s: s.stats.done + s.stats.failed == 2, "both tasks to finish")
        assert [summary.name for summary in snapshot.names] == [FAIL]  # the failure keeps its call
        assert snapshot.failures[0].task_id == failed and done < failed
        assert any("set up after the engine started" in text for text in snapshot.blind)
    finally:
        engine.close(timeout=10)


def test_without_results_the_page_says_finished_tasks_are_not_kept(worker: WorkerProcess) -> None:
    engine = TasQ(backend="dramatiq", broker_url=REDIS_URL, name=ENGINE)
    source = source_for(engine)
    try:
        engine.start()
        engine.enqueue(tasks.add.task(1, 2))
        assert engine.join(timeout=30)
        snapshot = source.snapshot()
        assert snapshot.names == () and snapshot.failures == () and snapshot.stats.enqueued >= 1
        assert any("results=0" in text for text in snapshot.blind)
    finally:
        engine.close(timeout=10)


def test_an_in_process_broker_keeps_the_memory_source() -> None:
    engine = TasQ(backend="dramatiq", broker_url="stub://", name=f"{ENGINE}-stub")
    try:
        assert isinstance(source_for(engine), MemorySource)
    finally:
        engine.close(timeout=5)
