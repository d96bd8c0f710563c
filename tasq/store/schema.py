"""The store's tables, and the ordered migrations that build them.

A TasQ store says so in its header: ``PRAGMA application_id`` is ``APPLICATION_ID`` and
``PRAGMA user_version`` the number of migrations applied. Opening a file applies the missing
ones, each in the transaction that also bumps the version, so a crash mid-upgrade leaves the
previous version intact. A file of another application, or of a newer TasQ, is refused
before anything is written to it.

Why the tables look as they do:

- ``task``: one row per accepted task, for its whole life. The id is the store's rowid,
  one more than the largest in the table; pruning never deletes the newest row, so an id is
  never given twice (``AUTOINCREMENT`` would do the same at one more page written per
  commit, a third of the cost of a one-row commit). ``state`` moves pending → running →
  done | failed, or pending → cancelled; a retry goes running → pending with a later
  ``run_at``. A run is claimed by setting ``lease_owner`` (the claiming process) and
  ``lease_until`` (renewed by its heartbeat): a row whose lease lapsed belongs to a dead
  process and is recovered by another.
- Two partial indexes, each holding only the rows its queries look at: the pending rows in
  claim order, and the running rows by lease (few: the heartbeat and recovery read them
  all). Neither grows with history. Each index costs every INSERT a b-tree visit, measured
  at a third of a row's insert: the finished rows have none (pruning and listings walk the
  table from its newest id, and stop early).
- A third partial index holds the failed and cancelled rows (few), newest first, for the
  recent failures a dashboard shows.
- ``periodic_slot``: one row per (engine, task, slot); its primary key is what makes a
  periodic task run once per slot across every process.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ..exceptions import StoreError

__all__ = ["APPLICATION_ID", "MIGRATIONS", "SCHEMA_VERSION", "check", "migrate"]

APPLICATION_ID = 0x54617351  # "TasQ", in the file's header at offset 68

_TASKS = """
CREATE TABLE task (
    id INTEGER PRIMARY KEY,
    engine TEXT NOT NULL,
    name TEXT NOT NULL,
    args TEXT NOT NULL,
    kwargs TEXT NOT NULL,
    headers TEXT NOT NULL DEFAULT '{}',
    priority INTEGER NOT NULL DEFAULT 0,
    run_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    max_retry INTEGER NOT NULL,
    retry_delay REAL,
    rerun_lost INTEGER NOT NULL DEFAULT 1,
    lease_owner TEXT,
    lease_until REAL,
    enqueued_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    return_value TEXT,
    return_repr TEXT,
    error_type TEXT,
    error_message TEXT,
    error_traceback TEXT,
    retry_of INTEGER
);
CREATE INDEX task_due ON task (engine, priority DESC, id) WHERE state = 'pending';
CREATE INDEX task_running ON task (lease_owner, lease_until) WHERE state = 'running';
"""

_SLOTS = """
CREATE TABLE periodic_slot (
    engine TEXT NOT NULL,
    name TEXT NOT NULL,
    slot INTEGER NOT NULL,
    owner TEXT NOT NULL,
    task_id INTEGER,
    claimed_at REAL NOT NULL,
    PRIMARY KEY (engine, name, slot)
) WITHOUT ROWID;
"""

# The failed and cancelled rows, newest first: a dashboard's recent failures without a walk
# through every finished row. Done rows (most of them) are not in it and pay nothing.
_FAILURES = """
CREATE INDEX task_failures ON task (engine, id) WHERE state IN ('failed', 'cancelled');
"""

# In order, never edited once released: a new schema is a new entry at the end.
MIGRATIONS: tuple[str, ...] = (_TASKS, _SLOTS, _FAILURES)
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(connection: sqlite3.Connection, path: Path, upto: int = SCHEMA_VERSION) -> None:
    """Bring the file to schema ``upto``, or refuse it; the caller is not in a transaction."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        version = _check(connection, path)
        for number in range(version, upto):
            # Statement by statement: executescript() would commit the transaction first.
            for statement in MIGRATIONS[number].split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {number + 1}")
        if version == 0:
            connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


def check(connection: sqlite3.Connection, path: Path) -> None:
    """Refuse a file TasQ must not touch, reading it only: before the caller switches it to
    WAL mode, which rewrites its header; the caller is not in a transaction."""
    connection.execute("BEGIN")
    try:
        _check(connection, path)
    finally:
        if connection.in_transaction:
            connection.execute("ROLLBACK")


def _check(connection: sqlite3.Connection, path: Path) -> int:
    """The file's schema version; a ``StoreError`` for a file TasQ must not touch."""
    application = connection.execute("PRAGMA application_id").fetchone()[0]
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    tables = connection.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]
    if application != APPLICATION_ID and (application != 0 or version != 0 or tables != 0):
        raise StoreError(
            f"{path} is an SQLite database but not a TasQ store (it has other tables): point store= at a new file",
            str(path),
        )
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the store {path} has schema version {version}, newer than this TasQ knows "
            f"({SCHEMA_VERSION}): it was written by a newer TasQ; upgrade TasQ to use it",
            str(path),
        )
    return int(version)
