"""The schema: created on first use, migrated in order, and refused when not TasQ's or newer."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tasq.exceptions import StoreError
from tasq.store import SCHEMA_VERSION, Journal
from tasq.store.schema import APPLICATION_ID, migrate

from .conftest import task

pytestmark = pytest.mark.timeout(20)


def header(path: Path) -> tuple[int, int, str]:
    with sqlite3.connect(path) as connection:
        application = connection.execute("PRAGMA application_id").fetchone()[0]
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
    connection.close()
    return application, version, mode


def test_first_use_creates_a_versioned_wal_store(journal: Journal) -> None:
    assert not journal.path.exists()
    journal.add([task()])
    assert header(journal.path) == (APPLICATION_ID, SCHEMA_VERSION, "wal")


def test_an_old_store_is_migrated_and_keeps_its_rows(tmp_path: Path, make_journal: Callable[..., Journal]) -> None:
    path = tmp_path / "old.db"
    connection = sqlite3.connect(path, isolation_level=None)
    migrate(connection, path, upto=1)
    connection.execute(
        "INSERT INTO task (engine, name, args, kwargs, run_at, max_retry, enqueued_at)"
        " VALUES ('default', 'app.old', '[1]', '{}', 0, 1, 0)"
    )
    connection.close()
    assert header(path)[1] == 1

    journal = make_journal("old.db")
    assert journal.claim_slot(0, task("app.tick")) is not None  # a table of version 2
    assert header(path)[1] == SCHEMA_VERSION
    record = journal.result(1)
    assert record is not None
    assert (record.name, record.args) == ("app.old", "[1]")


def test_a_store_of_a_newer_schema_is_refused_untouched(tmp_path: Path, make_journal: Callable[..., Journal]) -> None:
    make_journal("new.db").add([task()])
    path = tmp_path / "new.db"
    with sqlite3.connect(path) as connection:
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.close()
    journal = make_journal("new.db")
    with pytest.raises(StoreError, match=rf"schema version {SCHEMA_VERSION + 1}.*upgrade TasQ") as caught:
        journal.add([task()])
    assert caught.value.path == str(path)
    assert header(path)[1] == SCHEMA_VERSION + 1
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT count(*) FROM task").fetchone()[0] == 1
    connection.close()


def test_an_sqlite_file_of_another_application_is_refused(tmp_path: Path, make_journal: Callable[..., Journal]) -> None:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE users (id INTEGER PRIMARY KEY)")
    connection.close()
    with pytest.raises(StoreError, match="not a TasQ store"):
        make_journal("app.db").stats("default")
    with sqlite3.connect(path) as connection:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_schema")]
    connection.close()
    assert tables == ["users"]


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path, make_journal: Callable[..., Journal]) -> None:
    (tmp_path / "notes.db").write_text("these are my notes, not a database\n" * 200)
    with pytest.raises(StoreError, match="not a TasQ store"):
        make_journal("notes.db").add([task()])
    assert (tmp_path / "notes.db").read_text().startswith("these are my notes")


def test_an_empty_file_becomes_a_store(tmp_path: Path, make_journal: Callable[..., Journal]) -> None:
    (tmp_path / "empty.db").touch()
    assert make_journal("empty.db").add([task()]) == [1]
