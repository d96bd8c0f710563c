"""In memory, once per slot across processes: the file lock, with real processes and SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tasq.periodic import FileLock, lock_directory
from tests.periodic.slot_log import read, wait_for

pytestmark = pytest.mark.timeout(40)

HERE = Path(__file__).parent


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> subprocess.Popen[bytes]:
        # The environment as the test left it: TASQ_PERIODIC_DIR is the test's own directory.
        # DeprecationWarning off: the fork test forks a process that runs threads, on purpose.
        env = {**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning"}
        with open(tmp_path / f"stderr-{len(processes)}", "wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, str(HERE / "lock_worker.py"), *args], env=env, stdout=subprocess.DEVNULL, stderr=stderr
            )
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(10)
    errors = [path.read_text() for path in sorted(tmp_path.glob("stderr-*")) if path.read_text().strip()]
    assert not errors, errors[0]


def test_the_lock_file_lives_in_a_per_user_directory_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch, lock_dir: Path
) -> None:
    assert lock_directory() == lock_dir
    monkeypatch.delenv("TASQ_PERIODIC_DIR")
    assert lock_directory().name == f"tasq-{os.getuid()}"
    assert FileLock("my app/x", directory=lock_dir).path == lock_dir / "my%20app%2Fx.lock"


def test_one_holder_at_a_time_and_a_new_holder_never_reruns_a_claimed_slot(lock_dir: Path) -> None:
    first, second = FileLock("shared"), FileLock("shared")  # two open files: as two processes
    slot = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    later = slot + timedelta(minutes=1)
    try:
        assert first.acquire() and not second.acquire()
        assert not second.claim("shared", "t", slot, later)  # not the holder: never claims
        assert first.claim("shared", "t", slot, later)
        assert not first.claim("shared", "t", slot, later)
        assert (lock_dir / "shared.lock").read_text().strip() == str(os.getpid())
        assert oct((lock_dir).stat().st_mode & 0o777) == "0o700"
        first.release()
        assert second.acquire()
        assert not second.claim("shared", "t", slot, later)  # the last holder's claim was recorded
        assert second.claim("shared", "t", later, later + timedelta(minutes=1))
        assert second.claim("shared", "other", slot, later)
    finally:
        first.release()
        second.release()


def test_three_processes_one_run_per_slot_and_a_sigkilled_holder_is_replaced_within_2s(
    tmp_path: Path, lock_dir: Path, spawn: Callable[..., subprocess.Popen[bytes]]
) -> None:
    log = tmp_path / "runs.log"
    processes = {p.pid: p for p in (spawn(str(log), "locktest", "0.2") for _ in range(3))}
    wait_for(lambda: sum(line[0] == "ready" for line in read(log)) == 3, 15, "three ready processes")
    wait_for(lambda: sum(line[0] == "slot" for line in read(log)) >= 8, 10, "eight slots")
    holder = int((lock_dir / "locktest.lock").read_text())
    before = [line for line in read(log) if line[0] == "slot"]
    assert {int(line[1]) for line in before} == {holder}  # one process runs the schedule

    processes[holder].send_signal(signal.SIGKILL)
    processes[holder].wait(5)
    killed_at = time.time()
    wait_for(lambda: any(line[0] == "slot" and int(line[1]) != holder for line in read(log)), 5, "a new holder")
    taken_over = min(float(line[4]) for line in read(log) if line[0] == "slot" and int(line[1]) != holder)
    assert taken_over - killed_at < 2.0, f"runs resumed {taken_over - killed_at:.2f}s after the SIGKILL"
    wait_for(lambda: sum(line[0] == "slot" for line in read(log)) >= len(before) + 8, 10, "eight more slots")

    slots = Counter(line[2] for line in read(log) if line[0] == "slot")
    assert max(slots.values()) == 1, f"a slot ran twice: {[s for s, n in slots.items() if n > 1]}"
    new_holder = int((lock_dir / "locktest.lock").read_text())
    assert new_holder != holder and new_holder in processes
    after = {int(line[1]) for line in read(log) if line[0] == "slot" and float(line[4]) > taken_over + 0.5}
    assert after == {new_holder}


def test_a_forked_child_starts_its_own_ticker_and_takes_over_when_the_parent_lets_go(
    tmp_path: Path, spawn: Callable[..., subprocess.Popen[bytes]]
) -> None:
    log = tmp_path / "runs.log"
    parent = spawn(str(log), "forktest", "0.2", "fork")
    assert parent.wait(20) == 0
    lines = read(log)
    child = next(int(line[1]) for line in lines if line[0] == "child")
    forked_at = next(float(line[2]) for line in lines if line[0] == "child")
    released_at = next(float(line[2]) for line in lines if line[0] == "parent-closes")
    by_child = [float(line[4]) for line in lines if line[0] == "slot" and int(line[1]) == child]
    by_parent = [float(line[4]) for line in lines if line[0] == "slot" and int(line[1]) == parent.pid]
    assert by_parent and max(by_parent) <= released_at + 0.1  # the parent kept the lock across fork()
    assert by_child, "the child never ran the schedule"
    assert min(by_child) > forked_at and min(by_child) - released_at < 2.0  # took over within the lock retry
    slots = Counter(line[2] for line in lines if line[0] == "slot")
    assert max(slots.values()) == 1


def test_a_lock_directory_that_cannot_be_used_is_logged_once_and_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from tasq import TasQ

    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("TASQ_PERIODIC_DIR", str(blocker))
    engine = TasQ(name="bad-lock-dir")

    @engine.periodic(every=0.1)
    def beat() -> None: ...

    with caplog.at_level("ERROR", logger="tasq.periodic.ticker"):
        engine.start()
        try:
            wait_for(lambda: "cannot use the lock" in caplog.text, 5, "the error")
            time.sleep(1.5)  # at least one more attempt
        finally:
            engine.close()
    assert caplog.text.count("cannot use the lock") == 1
    assert engine.stats().enqueued == 0  # nothing ran without the lock
