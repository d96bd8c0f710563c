"""Keeping the file small: finished rows beyond the newest ``keep`` deleted, the WAL
checkpointed and truncated, old periodic slots forgotten.

SQLite reuses the pages that deletes free, so a pruned store stops growing. SQLite's own
checkpoints are off (``connection.py``: while processes keep writing they never reach the
WAL's end); every few writes a connection checks the WAL's size and, past its limit, runs
one TRUNCATE checkpoint, and ``checkpoint()`` forces one after each prune.
"""

from __future__ import annotations

import sqlite3

__all__ = ["checkpoint", "prune"]


def prune(connection: sqlite3.Connection, engine: str, keep: int) -> int:
    """Delete ``engine``'s finished rows but the newest ``keep``; how many went."""
    if keep < 0:
        raise ValueError(f"keep must be >= 0, not {keep}")
    edge = connection.execute(
        "SELECT id FROM task WHERE engine = ? AND state IN ('done', 'failed', 'cancelled')"
        " ORDER BY id DESC LIMIT 1 OFFSET ?",
        (engine, keep),
    ).fetchone()
    if edge is None:
        return 0
    deleted = connection.execute(
        "DELETE FROM task WHERE engine = ? AND state IN ('done', 'failed', 'cancelled') AND id <= ?"
        " AND id < (SELECT max(id) FROM task)",  # the newest row stays: it keeps ids from being reused
        (engine, edge[0]),
    ).rowcount
    connection.execute(
        "DELETE FROM periodic_slot WHERE engine = ? AND slot < "
        "(SELECT max(slot) FROM periodic_slot AS newest WHERE newest.engine = periodic_slot.engine"
        " AND newest.name = periodic_slot.name)",
        (engine,),
    )
    return int(deleted)


def checkpoint(connection: sqlite3.Connection) -> tuple[int, int]:
    """Copy the WAL into the database and truncate it, if no reader holds it: (WAL pages, copied)."""
    busy, pages, copied = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return (0, 0) if busy == 0 and pages == -1 else (pages, copied)
