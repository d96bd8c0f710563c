"""Bad stores and bad rows: a clear error where it belongs, nothing half-accepted, and the
engine usable again once the cause is gone; a row that cannot run fails alone.

A full disk is a store capped with ``PRAGMA max_page_count`` (``Journal(max_pages=)``): the
test gives the engine such a journal before it first uses the file.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tasq import StoreError, TaskNotFound, TasQ
from tasq.store import SCHEMA_VERSION, Journal
from tests.stored import tasks
from tests.stored.conftest import StoreMake, rows
from tests.support import Recorder

pytestmark = pytest.mark.timeout(60)


def count(store: str) -> int:
    return len(rows(store))


def test_a_missing_directory_is_a_clear_error_at_start_and_at_enqueue_until_it_exists(
    make: StoreMake, tmp_path: Path
) -> None:
    directory = tmp_path / "not" / "yet"
    store = f"sqlite:///{directory / 'tasq.db'}"
    engine = make(store=store)  # configuration opens nothing
    with pytest.raises(StoreError, match="does not exist; create it") as raised:
        engine.start()
    assert raised.value.path == str(directory / "tasq.db")
    with pytest.raises(StoreError, match="does not exist"):
        engine.enqueue(tasks.add.task(1, 1))
    with pytest.raises(StoreError, match="does not exist"):
        engine.enqueue_many([tasks.add.task(1, 1)] * 3)
    assert not directory.exists()  # nothing made on the way
    directory.mkdir(parents=True)
    rec = Recorder()
    engine.on_done = rec.on_done
    engine.start()
    task_id = engine.enqueue(tasks.add.task(1, 1))
    assert engine.join(10)
    assert [row["id"] for row in rows(store)] == [task_id]  # the refused calls stored nothing


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """Make a file read-only for this process (immutable when it runs as root), and undo it."""
    made: list[Path] = []

    def lock(path: Path) -> None:
        if os.geteuid() == 0:
            if shutil.which("chattr") is None:
                pytest.skip("running as root without chattr: no way to make a file read-only to root")
            result = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
            if result.returncode != 0:
                pytest.skip(f"chattr +i is not supported here: {result.stderr.decode().strip()}")
        else:
            path.chmod(0o444)
        made.append(path)

    def unlock(path: Path) -> None:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        else:
            path.chmod(0o644)
        made.remove(path)

    yield lock, unlock  # type: ignore[misc]
    for path in list(made):
        unlock(path)


def test_a_read_only_store_is_a_clear_error_and_works_once_writable(make: StoreMake, store: str, read_only) -> None:  # type: ignore[no-untyped-def]
    lock, unlock = read_only
    path = Path(store.removeprefix("sqlite:///"))
    first = make()
    kept = first.enqueue(tasks.add.task(1, 1))
    first.close()
    first.journal.close()
    before = path.read_bytes()
    lock(path)
    engine = make()
    with pytest.raises(StoreError, match="read-only"):
        engine.start()
    with pytest.raises(StoreError, match="read-only"):
        engine.enqueue(tasks.add.task(2, 2))
    assert path.read_bytes() == before
    unlock(path)
    rec = Recorder()
    engine.on_done = rec.on_done
    engine.start()
    added = engine.enqueue(tasks.add.task(2, 2))
    assert rec.wait(2)
    assert set(rec.done) == {kept, added}


def test_a_file_that_is_not_a_tasq_store_is_refused_and_left_as_it_was(make: StoreMake, tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_bytes(b"not a database at all\n" * 100)
    other = tmp_path / "other.db"
    connection = sqlite3.connect(other)
    connection.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    connection.execute("INSERT INTO invoices (total) VALUES (12.5)")
    connection.commit()
    connection.close()
    for path in (text, other):
        before = path.read_bytes()
        engine = make(store=f"sqlite:///{path}")
        with pytest.raises(StoreError, match="not a TasQ store"):
            engine.start()
        with pytest.raises(StoreError, match="not a TasQ store"):
            engine.enqueue(tasks.add.task(1, 1))
        engine.journal.close()
        assert path.read_bytes() == before
    connection = sqlite3.connect(other)
    assert connection.execute("SELECT name FROM sqlite_schema").fetchall() == [("invoices",)]
    connection.close()


def _set_version(store: str, version: int) -> None:
    connection = sqlite3.connect(store.removeprefix("sqlite:///"))
    connection.execute(f"PRAGMA user_version = {version}")
    connection.commit()
    connection.close()


def test_a_store_of_a_newer_schema_is_refused_until_it_is_one_this_code_knows(make: StoreMake, store: str) -> None:
    first = make()
    kept = first.enqueue(tasks.add.task(1, 1))
    first.close()
    first.journal.close()
    _set_version(store, SCHEMA_VERSION + 1)  # as a newer TasQ would leave it
    engine = make()
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}, newer"):
        engine.start()
    with pytest.raises(StoreError, match="newer"):
        engine.enqueue(tasks.add.task(2, 2))
    assert [row["id"] for row in rows(store)] == [kept]
    _set_version(store, SCHEMA_VERSION)  # the newer code rolled back
    rec = Recorder()
    engine.on_done = rec.on_done
    engine.start()
    added = engine.enqueue(tasks.add.task(2, 2))
    assert rec.wait(2)
    assert set(rec.done) == {kept, added}


def test_a_full_disk_refuses_the_task_that_does_not_fit_whole_and_the_engine_goes_on_once_space_is_freed(
    make: StoreMake, store: str
) -> None:
    rec = Recorder()
    engine = make(workers=2, on_done=rec.on_done, on_failed=rec.on_failed)
    engine.journal = Journal(store, max_pages=64)  # the disk: 64 pages of 1 KiB
    accepted: list[int] = []
    padding = "x" * 300
    refused: StoreError | None = None
    for n in range(10_000):
        try:
            accepted.append(engine.enqueue(tasks.echo.task(padding, n)))
        except StoreError as error:
            refused = error
            break
    assert refused is not None and "full" in str(refused) and "free disk space" in str(refused)
    assert 20 < len(accepted) < 10_000
    assert [row["id"] for row in rows(store)] == accepted  # the one refused left nothing behind
    with pytest.raises(StoreError, match="full"):
        engine.enqueue_many([tasks.echo.task(padding, n) for n in range(50)])
    assert count(store) == len(accepted)  # all or none: none
    # Space is freed (an operator deletes old rows): the same engine stores and runs again.
    freed = accepted[: len(accepted) // 2]
    connection = sqlite3.connect(store.removeprefix("sqlite:///"))
    connection.execute("DELETE FROM task WHERE id <= ?", (freed[-1],))
    connection.commit()
    connection.close()
    more = [engine.enqueue(tasks.add.task(n, 0)) for n in range(5)]
    engine.start()
    expected = accepted[len(freed) :] + more
    assert rec.wait(len(expected), timeout=20)
    rec.assert_once_each(expected)


def _insert_raw(store: str, name: str, args: str, kwargs: str = "{}") -> int:
    connection = sqlite3.connect(store.removeprefix("sqlite:///"))
    now = time.time()
    cursor = connection.execute(
        "INSERT INTO task (engine, name, args, kwargs, run_at, max_retry, enqueued_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        ("default", name, args, kwargs, now, 3, now),
    )
    connection.commit()
    connection.close()
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def test_rows_that_can_no_longer_run_fail_with_task_not_found_once_and_hold_up_nothing(
    make: StoreMake, store: str
) -> None:
    producer = make()
    good = producer.enqueue_many([tasks.add.task(n, 1) for n in range(500)])
    bad = {
        "renamed": _insert_raw(store, "tests.stored.tasks.add_renamed_since", "[1, 2]"),
        "deleted module": _insert_raw(store, "tests.stored.gone_module.task", "[]"),
        "corrupt args": _insert_raw(store, "tests.stored.tasks.add", "[1, 2"),
        "corrupt kwargs": _insert_raw(store, "tests.stored.tasks.add", "[]", '{"a": '),
        "args not a list": _insert_raw(store, "tests.stored.tasks.add", '{"a": 1}'),
    }
    good += producer.enqueue_many([tasks.add.task(n, 2) for n in range(500)])
    rec = Recorder()
    engine = make(workers=4, results=2000, on_done=rec.on_done, on_failed=rec.on_failed)
    engine.start()
    assert rec.wait(len(good) + len(bad), timeout=30)
    assert engine.join(5) and producer.join(5)
    rec.assert_once_each(good + list(bad.values()))
    assert set(rec.done) == set(good)
    for why, task_id in bad.items():
        error = rec.error(task_id)
        assert isinstance(error, TaskNotFound), why
        result = engine.result(task_id)
        assert result is not None and isinstance(result.error, TaskNotFound) and result.attempts == 1, why
    stats = engine.stats()
    assert (stats.done, stats.failed, stats.pending, stats.running) == (len(good), len(bad), 0, 0)


def test_an_engine_made_on_a_bad_url_is_refused_at_configuration(tmp_path: Path) -> None:
    for url, error in (("sqlite://relative.db", ValueError), ("sqlite:///", ValueError), (42, TypeError)):
        with pytest.raises(error, match="store"):
            TasQ(store=url)  # type: ignore[arg-type]
