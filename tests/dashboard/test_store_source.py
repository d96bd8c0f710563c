"""The dashboard of a store engine: a web process that never runs a task shows what a
``tasq worker --store`` process ran, from the store they share."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tasq import TasQ
from tasq.dashboard import source_for
from tasq.dashboard.store import StoreSource
from tests.backends import tasks
from tests.backends.conftest import ROOT, tasq_command
from tests.dashboard.support import admin_asker, wait_until

pytestmark = pytest.mark.timeout(90)

ENGINE = "dash-store"
ADD = "tests.backends.tasks.add"
FAIL = "tests.backends.tasks.fail"
SLEEP = "tests.backends.tasks.sleep_then"


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'tasq.db'}"


@pytest.fixture
def worker(store: str) -> Iterator[subprocess.Popen[str]]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("TASQ_")}
    process = subprocess.Popen(
        [*tasq_command(), "worker", "--store", store, "--name", ENGINE, "--threads", "2", "tests.backends.tasks"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


def test_a_web_process_shows_what_a_store_worker_ran(store: str, worker: subprocess.Popen[str]) -> None:
    web = TasQ(store=store, name=ENGINE, results=100)  # never started: it stores and looks
    try:
        source = source_for(web)
        assert isinstance(source, StoreSource) and source.can_cancel and source.can_retry
        added = [web.enqueue(tasks.add.task(n, 1)) for n in range(3)]
        failed = web.enqueue(tasks.fail.task("ValueError"))
        slow = web.enqueue(tasks.sleep_then.task(1.5, 7))
        delayed = web.enqueue(tasks.add.task(40, 2), delay=60)

        running = wait_until(
            lambda: next((line for line in source.snapshot().running if line.task_id == slow), None),
            what="the slow task running in the worker",
        )
        assert (running.name, running.state, running.attempt, running.args) == (SLEEP, "running", 1, "1.5, 7")
        waiting = {line.task_id: line for line in source.snapshot().waiting}
        assert (waiting[delayed].name, waiting[delayed].state, waiting[delayed].args) == (ADD, "delayed", "40, 2")
        assert waiting[delayed].run_at is not None and waiting[delayed].run_at > running.started_at + 50

        snapshot = wait_until(
            lambda: (s := source.snapshot()).stats.done == 4 and s.stats.failed == 1 and s,
            what="every due task to finish in the worker",
        )
        by_name = {summary.name: summary for summary in snapshot.names}
        assert (by_name[ADD].done, by_name[FAIL].failed, by_name[SLEEP].done) == (3, 1, 1)
        p50 = by_name[SLEEP].p50
        assert p50 is not None and 1.4 < p50 < 10
        assert snapshot.scope == "every process sharing the store"
        assert (snapshot.stats.pending, snapshot.stats.running) == (1, 0)
        (failure,) = snapshot.failures
        assert (failure.task_id, failure.name, failure.error) == (failed, FAIL, "ValueError: a ValueError on purpose")
        assert "ValueError" in failure.traceback and failure.args == "'ValueError'" and not failure.cancelled
        assert source.snapshot(args=False).failures[0].args is None
        assert not set(added) & {line.task_id for line in (*snapshot.running, *snapshot.waiting)}

        ask = admin_asker(source)

        status, body = ask("GET", "/data.json")
        assert status == 200 and json.loads(body)["failures"][0]["name"] == FAIL
        assert ask("POST", f"/tasks/{delayed}/cancel")[0] == 303
        cancelled = wait_until(
            lambda: next((f for f in source.snapshot().failures if f.task_id == delayed), None),
            what="the cancelled task among the failures",
        )
        assert cancelled.cancelled and cancelled.traceback == ""
        assert ask("POST", f"/tasks/{delayed}/cancel")[0] == 409
        assert ask("POST", f"/tasks/{failed}/retry")[0] == 303
        retried = next(f for f in source.snapshot().failures if f.task_id == failed)
        assert retried.retried_as is not None and retried.retried_as > delayed
        assert ask("POST", f"/tasks/{added[0]}/retry")[0] == 409  # it succeeded
    finally:
        web.close(timeout=10)
