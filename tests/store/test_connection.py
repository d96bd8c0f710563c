"""Bad stores at the journal: each a clear StoreError at the call, nothing half-accepted, and
the journal usable again once the cause is gone. A lock held elsewhere never surfaces."""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tasq.exceptions import StoreError, TasQError
from tasq.store import Journal
from tasq.store import connection as store_connection

from .conftest import task

pytestmark = pytest.mark.timeout(30)

NOBODY = 65534


def count(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        rows = int(connection.execute("SELECT count(*) FROM task").fetchone()[0])
    connection.close()
    return rows


def test_a_missing_directory_is_named_then_works_once_created(tmp_path: Path) -> None:
    journal = Journal(f"sqlite:///{tmp_path}/missing/tasq.db")
    with pytest.raises(StoreError, match=r"directory .*missing does not exist; create it") as caught:
        journal.add([task()])
    assert isinstance(caught.value, TasQError)
    assert caught.value.path.endswith("missing/tasq.db")
    (tmp_path / "missing").mkdir()
    assert journal.add([task()]) == [1]
    journal.close()


@contextmanager
def unprivileged() -> Iterator[None]:
    """Root ignores file permissions: as root, act as an unprivileged user for a while."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def test_a_read_only_store_is_named_then_works_once_writable() -> None:
    directory = Path(tempfile.mkdtemp(prefix="tasq-read-only-"))
    directory.chmod(0o755)
    path = directory / "tasq.db"
    journal = Journal(f"sqlite:///{path}")
    try:
        with Journal(f"sqlite:///{path}") as first:
            first.add([task()])
        for file in directory.iterdir():
            file.chmod(0o444)
        with unprivileged(), pytest.raises(StoreError, match=r"is read-only .*let this process write it") as caught:
            journal.add([task()])
        assert caught.value.path == str(path)
        assert count(path) == 1
        for file in directory.iterdir():
            file.chmod(0o666)
        directory.chmod(0o777)
        with unprivileged():
            assert journal.add([task()]) == [2]
            journal.close()
        assert count(path) == 2
    finally:
        journal.close()
        for file in directory.iterdir():
            file.unlink()
        directory.rmdir()


def test_a_full_store_refuses_the_whole_batch_then_takes_more_once_space_is_freed(
    make_journal: Callable[..., Journal],
) -> None:
    journal = make_journal(max_pages=160)  # 1 KiB pages
    accepted = 0
    refused: StoreError | None = None
    while refused is None:
        try:
            journal.add_many([task("app.tasks.send", "x" * 200) for _ in range(100)])
            accepted += 100
        except StoreError as error:
            refused = error
    assert "is full (no space left): free disk space" in str(refused)
    assert refused.path == str(journal.path)
    assert accepted > 0
    assert journal.stats("default").pending == accepted  # the refused batch left nothing
    with pytest.raises(StoreError, match="full"):
        journal.add([task("app.tasks.send", "x" * 100_000)])
    assert journal.stats("default").pending == accepted

    other = sqlite3.connect(journal.path, isolation_level=None)  # another process frees space
    other.execute("DELETE FROM task WHERE id > 100")
    other.close()
    assert len(journal.add_many([task() for _ in range(10)])) == 10


def test_a_lock_held_longer_than_sqlites_wait_never_reaches_the_caller(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_connection, "BUSY_TIMEOUT", 0.05)
    journal.add([task()])
    journal.close()  # reopened with the short wait
    holder = sqlite3.connect(journal.path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    released = threading.Timer(0.6, lambda: holder.execute("COMMIT"))
    released.start()
    try:
        assert journal.add([task()]) == [2]
        assert len(journal.claim("default", journal.owner, 10)) == 2
    finally:
        released.join()
        holder.close()
