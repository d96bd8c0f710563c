"""Task control from any process: cancel a task that has not started, retry a failed one,
and claim a periodic slot together with the task it runs.

Each is one transaction under the write lock, so a cancel and a claim of the same row are
ordered: exactly one of them changes it.
"""

from __future__ import annotations

import sqlite3

from ..exceptions import TaskCancelled
from .writes import ENQUEUED_AT, Row, insert_rows

__all__ = ["CANCELLED", "cancel", "cancel_claimed", "cancel_pending", "claim_slot", "retry", "set_headers", "take_slot"]

CANCELLED = f"{TaskCancelled.__module__}.{TaskCancelled.__qualname__}"

_CANCEL = (
    "UPDATE task SET state = 'cancelled', finished_at = ?, error_type = ?, error_message = ?"
    " WHERE state = 'pending' AND {where} RETURNING id"
)


def cancel(connection: sqlite3.Connection, task_id: int, now: float) -> bool:
    found = connection.execute(_CANCEL.format(where="id = ?"), (now, CANCELLED, "cancelled", task_id)).fetchall()
    return bool(found)


def cancel_claimed(connection: sqlite3.Connection, owner: str, task_id: int, attempt: int, now: float) -> bool:
    """Cancel a run this owner claimed but has not started (it was waiting for a worker)."""
    cursor = connection.execute(
        "UPDATE task SET state = 'cancelled', finished_at = ?, error_type = ?, error_message = ?,"
        " lease_owner = NULL, lease_until = NULL, attempts = attempts - 1, started_at = NULL"
        " WHERE id = ? AND state = 'running' AND lease_owner = ? AND attempts = ?",
        (now, CANCELLED, "cancelled", task_id, owner, attempt),
    )
    return cursor.rowcount == 1


def set_headers(connection: sqlite3.Connection, task_id: int, headers: str) -> None:
    """The headers a task's before_enqueue hooks added once its id was known."""
    connection.execute("UPDATE task SET headers = ? WHERE id = ?", (headers, task_id))


def cancel_pending(connection: sqlite3.Connection, engine: str, now: float) -> list[int]:
    """Every pending row of ``engine``, cancelled; their ids."""
    found = connection.execute(
        _CANCEL.format(where="engine = ?"), (now, CANCELLED, "cancelled before it ran", engine)
    ).fetchall()
    return sorted(row[0] for row in found)


def retry(connection: sqlite3.Connection, task_id: int, now: float) -> int:
    """A new row for the same task and arguments; ``ValueError`` unless failed or cancelled."""
    found = connection.execute(
        "INSERT INTO task (engine, name, args, kwargs, headers, priority, run_at, max_retry, retry_delay,"
        " rerun_lost, enqueued_at, retry_of)"
        " SELECT engine, name, args, kwargs, headers, priority, ?, max_retry, retry_delay, rerun_lost, ?, id"
        " FROM task WHERE id = ? AND state IN ('failed', 'cancelled') RETURNING id",
        (now, now, task_id),
    ).fetchone()
    if found is not None:
        return int(found[0])
    state = connection.execute("SELECT state FROM task WHERE id = ?", (task_id,)).fetchone()
    if state is None:
        raise ValueError(f"task {task_id} is not known to the store (never stored, or pruned)")
    if state[0] == "done":
        raise ValueError(f"task {task_id} succeeded: only a failed or cancelled task can be retried")
    raise ValueError(f"task {task_id} is {state[0]}: only a failed or cancelled task can be retried")


def claim_slot(connection: sqlite3.Connection, engine: str, name: str, slot: int, owner: str, row: Row) -> int | None:
    """Win periodic slot ``slot`` of ``name`` and insert its task; None if another process won it."""
    won = connection.execute(
        "INSERT INTO periodic_slot (engine, name, slot, owner, claimed_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (engine, name, slot, owner, row[ENQUEUED_AT]),
    ).rowcount
    if won != 1:
        return None
    task_id = insert_rows(connection, [row])
    connection.execute(
        "UPDATE periodic_slot SET task_id = ? WHERE engine = ? AND name = ? AND slot = ?", (task_id, engine, name, slot)
    )
    return task_id


def take_slot(
    connection: sqlite3.Connection, engine: str, name: str, slot: int, owner: str, now: float, forget_before: int
) -> bool:
    """Win periodic slot ``slot`` of ``name`` (the ticker enqueues its task); False if another
    process won it. Slots before ``forget_before`` are no longer considered: deleted."""
    connection.execute(
        "DELETE FROM periodic_slot WHERE engine = ? AND name = ? AND slot < ?", (engine, name, forget_before)
    )
    won = connection.execute(
        "INSERT INTO periodic_slot (engine, name, slot, owner, claimed_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (engine, name, slot, owner, now),
    ).rowcount
    return won == 1
