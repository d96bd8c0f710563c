"""Reading the store for ``result(id)``, ``stats()`` and the dashboard's listings.

Reads go through a connection of their own: in WAL mode they see the last commit and never
wait for the writer, so a dashboard never slows the workers down.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from .records import FINISHED, STATES, StoreStats, TaskRecord, TaskState

__all__ = ["failures", "finished_among", "listing", "next_run_at", "recent_runs", "result", "stats"]

_COLUMNS = (
    "id, engine, name, args, kwargs, headers, priority, state, attempts, max_retry, run_at, enqueued_at,"
    " started_at, finished_at, lease_owner, return_value, return_repr, error_type, error_message,"
    " error_traceback, retry_of"
)


def _record(row: tuple[Any, ...]) -> TaskRecord:
    value: Any = None
    if row[15] is not None:
        try:
            value = json.loads(row[15])
        except ValueError:
            value = None  # written by hand or damaged: the repr column may still say
    return TaskRecord(
        id=row[0],
        engine=row[1],
        name=row[2],
        args=row[3],
        kwargs=row[4],
        headers=row[5],
        priority=row[6],
        state=row[7],
        attempts=row[8],
        max_retry=row[9],
        run_at=row[10],
        enqueued_at=row[11],
        started_at=row[12],
        finished_at=row[13],
        lease_owner=row[14],
        return_value=value,
        return_repr=row[16],
        error_type=row[17],
        error_message=row[18],
        error_traceback=row[19],
        retry_of=row[20],
    )


def result(connection: sqlite3.Connection, task_id: int) -> TaskRecord | None:
    row = connection.execute(f"SELECT {_COLUMNS} FROM task WHERE id = ?", (task_id,)).fetchone()
    return None if row is None else _record(row)


def stats(connection: sqlite3.Connection, engine: str, now: float) -> StoreStats:
    counts = dict.fromkeys(STATES, 0)
    delayed = retried = 0
    for state, count, waiting, extra in connection.execute(
        "SELECT state, count(*), total(state = 'pending' AND run_at > ?), total(max(attempts - 1, 0))"
        " FROM task WHERE engine = ? GROUP BY state",
        (now, engine),
    ):
        counts[state] = count
        delayed += int(waiting)
        retried += int(extra)
    return StoreStats(delayed=delayed, retried=retried, **counts)


_ORDER = {
    "pending": "ORDER BY priority DESC, id LIMIT ?",
    "running": "ORDER BY id LIMIT ?",
}


def listing(connection: sqlite3.Connection, engine: str, state: TaskState, limit: int) -> list[TaskRecord]:
    """Up to ``limit`` rows in ``state``: pending in the order they will run, finished newest first."""
    if state not in STATES:
        raise ValueError(f"state must be one of {', '.join(STATES)}, not {state!r}")
    order = "ORDER BY id DESC LIMIT ?" if state in FINISHED else _ORDER[state]
    rows = connection.execute(
        f"SELECT {_COLUMNS} FROM task WHERE engine = ? AND state = ? {order}", (engine, state, limit)
    )
    return [_record(row) for row in rows]


def next_run_at(connection: sqlite3.Connection, engine: str) -> float | None:
    """When the earliest pending row of ``engine`` falls due (maybe already), or None."""
    row = connection.execute(
        "SELECT min(run_at) FROM task WHERE engine = ? AND state = 'pending'", (engine,)
    ).fetchone()
    return None if row[0] is None else float(row[0])


def finished_among(connection: sqlite3.Connection, task_ids: list[int]) -> set[int]:
    """Which of ``task_ids`` are finished (done, failed, cancelled) or gone (pruned)."""
    finished: set[int] = set()
    for start in range(0, len(task_ids), 500):  # SQLite's bound on parameters is 999 or more
        chunk = task_ids[start : start + 500]
        live = f"FROM task WHERE id IN ({','.join('?' * len(chunk))}) AND state IN ('pending', 'running')"
        # Mostly none of them ended yet (a batch just stored): one count says so.
        if connection.execute(f"SELECT count(*) {live}", chunk).fetchone()[0] == len(chunk):  # the ids are distinct
            continue
        running = {row[0] for row in connection.execute(f"SELECT id {live}", chunk)}
        finished.update(task_id for task_id in chunk if task_id not in running)
    return finished


def recent_runs(
    connection: sqlite3.Connection, engine: str, limit: int
) -> list[tuple[str, TaskState, float | None, float | None]]:
    """The newest ``limit`` finished rows of ``engine`` as (name, state, started_at, finished_at):
    what a dashboard's per-name rates and durations need, without the rows' payloads."""
    return connection.execute(
        "SELECT name, state, started_at, finished_at FROM task"
        " WHERE engine = ? AND state IN ('done', 'failed', 'cancelled') ORDER BY id DESC LIMIT ?",
        (engine, limit),
    ).fetchall()


def failures(connection: sqlite3.Connection, engine: str, limit: int) -> list[TaskRecord]:
    """The newest ``limit`` failed or cancelled rows of ``engine`` (through their index)."""
    rows = connection.execute(
        f"SELECT {_COLUMNS} FROM task INDEXED BY task_failures"
        " WHERE engine = ? AND state IN ('failed', 'cancelled') ORDER BY id DESC LIMIT ?",
        (engine, limit),
    )
    return [_record(row) for row in rows]
