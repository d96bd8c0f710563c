"""Periodic tasks on a store: one run per slot across every process sharing it."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from tests.backends.conftest import ROOT

pytestmark = pytest.mark.timeout(60)

RUN = """
import sys
from tests.stored import periodic_tasks
periodic_tasks.engine.start()
print("started", flush=True)
sys.stdin.readline()  # until the test says stop
periodic_tasks.engine.close()
"""


def test_three_processes_run_each_slot_once(tmp_path: Path) -> None:
    store = tmp_path / "tasq.db"
    log = tmp_path / "runs.log"
    environment = {key: value for key, value in os.environ.items() if not key.startswith("TASQ_")}
    environment.update(TASQ_TEST_STORE=f"sqlite:///{store}", RUN_LOG=str(log))
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", RUN],
            cwd=ROOT,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    try:
        for process in processes:
            assert process.stdout is not None and process.stdout.readline().strip() == "started"
        # Five slots, whichever process reaches each first: the count grows once a second.
        deadline = time.monotonic() + 20
        with closing(sqlite3.connect(store, timeout=10)) as connection:
            while connection.execute("SELECT count(*) FROM periodic_slot").fetchone()[0] < 5:
                assert time.monotonic() < deadline, "the processes claimed no slot for 20 s"
                time.sleep(0.1)
    finally:
        for process in processes:
            process.communicate("stop\n", timeout=30)
    assert [process.returncode for process in processes] == [0, 0, 0]
    with closing(sqlite3.connect(store)) as connection:
        slots = connection.execute("SELECT count(*), count(DISTINCT owner) FROM periodic_slot").fetchone()
        runs = connection.execute("SELECT count(*) FROM task WHERE engine = 'ticks' AND state = 'done'").fetchone()[0]
    lines = log.read_text().splitlines()
    assert slots[0] >= 5
    # Each run is one line; a slot claimed as close() stopped the ticker may have no task.
    assert runs == len(lines)
    assert slots[0] - 1 <= runs <= slots[0]  # never more runs than slots: no slot ran twice
