"""Runs: claiming due rows, holding them by lease, ending them, and taking back lapsed ones.

A claim is one ``UPDATE ... WHERE id IN (SELECT ... LIMIT n) RETURNING`` under the write
lock (Oban's and Solid Queue's shape; SQLite has one writer, so no ``SKIP LOCKED`` is
needed): no two processes can claim one row. The attempt counter goes up at the claim, so a
run lost with its process has counted. Every later write of the run names its owner and
attempt, and is refused when either changed: a process whose lease lapsed while it was
still alive (a stalled heartbeat) cannot finish a run that another process took over
(the fencing that solid_queue#778 is about).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from ..exceptions import WorkerLost
from .records import ClaimedTask, Outcome
from .writes import encode

__all__ = ["FINISH", "WORKER_LOST", "claim", "finish", "finish_row", "recover", "release", "renew", "reschedule"]

WORKER_LOST = f"{WorkerLost.__module__}.{WorkerLost.__qualname__}"

_CLAIM = """
UPDATE task SET state = 'running', lease_owner = ?, lease_until = ?, started_at = ?, attempts = attempts + 1
WHERE id IN (
    SELECT id FROM task INDEXED BY task_due WHERE state = 'pending' AND engine = ? AND run_at <= ?
    ORDER BY priority DESC, id LIMIT ?
)
RETURNING id, engine, name, args, kwargs, headers, priority, attempts, max_retry, retry_delay, rerun_lost, enqueued_at
"""


def claim(
    connection: sqlite3.Connection, engine: str, owner: str, limit: int, now: float, lease: float
) -> list[ClaimedTask]:
    rows = connection.execute(_CLAIM, (owner, now + lease, now, engine, now, limit)).fetchall()
    claimed = [
        ClaimedTask(
            id=row[0],
            engine=row[1],
            name=row[2],
            args=row[3],
            kwargs=row[4],
            headers=row[5],
            priority=row[6],
            attempt=row[7],
            max_retry=row[8],
            retry_delay=row[9],
            rerun_lost=bool(row[10]),
            enqueued_at=row[11],
        )
        for row in rows
    ]
    claimed.sort(key=lambda task: (-task.priority, task.id))  # RETURNING's order is not the SELECT's
    return claimed


def renew(connection: sqlite3.Connection, owner: str, until: float) -> int:
    """Extend every lease ``owner`` holds; how many it holds."""
    cursor = connection.execute(
        "UPDATE task INDEXED BY task_running SET lease_until = ? WHERE state = 'running' AND lease_owner = ?",
        (until, owner),
    )
    return cursor.rowcount


def recover(connection: sqlite3.Connection, engine: str, now: float) -> tuple[list[int], list[int]]:
    """Rows whose lease lapsed: (put back to run again, failed with ``WorkerLost``)."""
    requeued = connection.execute(
        "UPDATE task INDEXED BY task_running SET state = 'pending', lease_owner = NULL, lease_until = NULL, run_at = ?"
        " WHERE state = 'running' AND lease_until < ? AND engine = ? AND rerun_lost AND attempts < max_retry"
        " RETURNING id",
        (now, now, engine),
    ).fetchall()
    failed = connection.execute(
        "UPDATE task INDEXED BY task_running SET state = 'failed', lease_owner = NULL, lease_until = NULL,"
        " finished_at = ?,"
        " error_type = ?, error_message = ?"
        " WHERE state = 'running' AND lease_until < ? AND engine = ? RETURNING id, attempts, rerun_lost",
        (now, WORKER_LOST, "the process running this task died (its lease lapsed)", now, engine),
    ).fetchall()
    return sorted(row[0] for row in requeued), sorted(row[0] for row in failed)


FINISH = (
    "UPDATE task SET state = ?, finished_at = ?, return_value = ?, return_repr = ?,"
    " error_type = ?, error_message = ?, error_traceback = ?, lease_owner = NULL, lease_until = NULL"
    " WHERE id = ? AND state = 'running' AND lease_owner = ? AND attempts = ?"
)


def value_columns(value: object) -> tuple[str | None, str | None]:
    """A return value as (JSON, None) when it serialises, else (None, its repr)."""
    if value is None:
        return None, None
    try:
        return encode(value, "the return value"), None
    except (TypeError, ValueError):
        return None, repr(value)[:1000]


def finish_row(outcome: Outcome, owner: str, now: float) -> tuple[object, ...]:
    """FINISH's parameters for ``outcome``."""
    value, value_repr = value_columns(outcome.return_value) if outcome.state == "done" else (None, None)
    return (
        outcome.state,
        now,
        value,
        value_repr,
        outcome.error_type,
        outcome.error_message,
        outcome.error_traceback,
        outcome.task_id,
        owner,
        outcome.attempt,
    )


def finish(connection: sqlite3.Connection, owner: str, outcomes: Sequence[Outcome], now: float) -> list[bool]:
    """Record each outcome; False for one whose run this owner no longer holds."""
    return [connection.execute(FINISH, finish_row(outcome, owner, now)).rowcount == 1 for outcome in outcomes]


def reschedule(
    connection: sqlite3.Connection,
    owner: str,
    task_id: int,
    attempt: int,
    run_at: float,
    error_type: str | None,
    error_message: str | None,
) -> bool:
    """Put a run back to wait for its next attempt at ``run_at``; False if not held."""
    cursor = connection.execute(
        "UPDATE task SET state = 'pending', run_at = ?, lease_owner = NULL, lease_until = NULL,"
        " error_type = ?, error_message = ?"
        " WHERE id = ? AND state = 'running' AND lease_owner = ? AND attempts = ?",
        (run_at, error_type, error_message, task_id, owner, attempt),
    )
    return cursor.rowcount == 1


def release(connection: sqlite3.Connection, owner: str, task_ids: Sequence[int]) -> list[int]:
    """Give back claimed runs that never started (a closing process): pending again, the
    attempt not counted. The ids given back."""
    released: list[int] = []
    for task_id in task_ids:
        found = connection.execute(
            "UPDATE task SET state = 'pending', attempts = attempts - 1, lease_owner = NULL, lease_until = NULL,"
            " started_at = NULL WHERE id = ? AND state = 'running' AND lease_owner = ? RETURNING id",
            (task_id, owner),
        ).fetchall()
        released.extend(row[0] for row in found)
    return released
