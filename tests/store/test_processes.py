"""Real processes on one store file: contention, a SIGKILL while holding leases, fork()."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tasq.exceptions import WorkerLost
from tasq.store import Journal, Outcome

from ..conftest import scaled
from .conftest import task

ROOT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("store_child.py")
WAL_BOUND = 64 * 1024 * 1024  # bytes: the WAL is checkpointed and truncated, not left to grow
WORKER_LOST = f"{WorkerLost.__module__}.{WorkerLost.__qualname__}"


def child(*arguments: object) -> subprocess.Popen[str]:
    """A process running store_child.py."""
    return subprocess.Popen(
        [sys.executable, str(CHILD), *map(str, arguments)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextmanager
def holding(*arguments: object) -> Iterator[subprocess.Popen[str]]:
    """``child(...)``, killed (if still alive) and reaped, its pipes closed, at the end."""
    with child(*arguments) as process:
        try:
            yield process
        finally:
            process.kill()


@contextmanager
def wal_watch(path: Path) -> Iterator[list[int]]:
    """The WAL's size, sampled every 20 ms while the block runs."""
    sizes = [0]
    stop = threading.Event()
    wal = path.with_name(path.name + "-wal")

    def sample() -> None:
        while not stop.wait(0.02):
            try:
                sizes.append(wal.stat().st_size)
            except FileNotFoundError:
                pass

    thread = threading.Thread(target=sample)
    thread.start()
    try:
        yield sizes
    finally:
        stop.set()
        thread.join()


@pytest.mark.timeout(900 if os.environ.get("TASQ_STRESS") else 180)
def test_four_processes_of_four_threads_add_and_claim_every_row_once(tmp_path: Path) -> None:
    per_thread = scaled(25_000)
    url = f"sqlite:///{tmp_path / 'tasq.db'}"
    with Journal(url) as journal:
        journal.open()
    with wal_watch(tmp_path / "tasq.db") as wal_sizes:
        processes = [child("contend", url, 4, per_thread) for _ in range(4)]
        outputs = [process.communicate(timeout=850) for process in processes]
    reports = []
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
        reports.append(json.loads(out))
    errors = [error for report in reports for error in report["errors"]]
    assert errors == []  # "database is locked" included: nothing reached a caller
    added = [task_id for report in reports for per in report["added"] for task_id in per]
    claimed = [task_id for report in reports for task_id in report["claimed"]]
    assert len(added) == len(set(added)) == 16 * per_thread
    assert all(per == sorted(per) for report in reports for per in report["added"])  # increasing
    assert len(claimed) == len(set(claimed))  # no row claimed twice
    assert set(claimed) == set(added)
    with Journal(url) as journal:
        stats = journal.stats("default")
    assert (stats.done, stats.pending, stats.running) == (16 * per_thread, 0, 0)
    assert max(wal_sizes) <= WAL_BOUND, max(wal_sizes)


def wait_for_line(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line, process.stderr.read() if process.stderr else ""
    return line


def recover_until(journal: Journal, deadline: float) -> tuple[list[int], list[int]]:
    while True:
        found = journal.recover("default")
        if found != ([], []) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.mark.timeout(60)
def test_a_process_killed_holding_leases_loses_no_row(make_journal: Callable[..., Journal]) -> None:
    journal = make_journal()
    url = journal.url
    again = journal.add([task(max_retry=3) for _ in range(4)])
    lost = journal.add([task(max_retry=1), task(max_retry=3, rerun_lost=False)])
    waiting = journal.add([task(run_at=time.time() + 3600), task(priority=-100)])
    with holding("hold", url, 6, 1.0, 0) as holder:
        claimed = json.loads(wait_for_line(holder).split(" ", 1)[1])
        assert sorted(claimed) == again + lost
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        assert journal.recover("default") == ([], [])  # its lease has not lapsed yet
        requeued, failed = recover_until(journal, time.monotonic() + 10)
    assert (requeued, failed) == (again, lost)
    for task_id in lost:
        record = journal.result(task_id)
        assert record is not None
        assert (record.state, record.error_type, record.attempts) == ("failed", WORKER_LOST, 1)
    rows = journal.claim("default", journal.owner, 10)
    assert [row.id for row in rows] == [*again, waiting[1]]  # the delayed one is still waiting
    assert all(row.attempt == 2 for row in rows[:4])
    journal.close()


@pytest.mark.timeout(60)
def test_a_live_process_keeps_its_leases_by_heartbeat(make_journal: Callable[..., Journal]) -> None:
    journal = make_journal()
    url = journal.url
    ids = journal.add([task(max_retry=2) for _ in range(3)])
    with holding("hold", url, 3, 0.6, 0.1) as holder:
        wait_for_line(holder)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:  # three leases' worth of time, renewed meanwhile
            assert journal.recover("default") == ([], [])
            time.sleep(0.05)
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        assert recover_until(journal, time.monotonic() + 5) == (ids, [])
    journal.close()


@pytest.mark.timeout(60)
def test_a_forked_child_opens_its_own_connection(make_journal: Callable[..., Journal]) -> None:
    journal = make_journal()
    journal.add([task()])
    parent_owner = journal.owner
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's connection is not used, and a new owner claims
        status = 1
        try:
            os.close(read)
            rows = journal.claim("default", journal.owner, 10)
            ids = journal.add([task(), task()])
            journal.finish(journal.owner, [Outcome(task_id=rows[0].id, attempt=1, state="done")])
            os.write(write, json.dumps([journal.owner != parent_owner, [r.id for r in rows], ids]).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write)
    with os.fdopen(read) as pipe:
        fresh_owner, claimed, added = json.loads(pipe.read())
    assert os.waitpid(pid, 0)[1] == 0
    assert (fresh_owner, claimed, added) == (True, [1], [2, 3])
    assert journal.add([task()]) == [4]  # the parent's own connection still works
    assert journal.result(1).state == "done"  # type: ignore[union-attr]
    journal.close()
