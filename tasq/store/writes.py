"""Accepting tasks: rows built in the caller's thread, inserted in one statement per group.

JSON is encoded here, before anything is queued for the commit, so that an argument that
is not JSON is a ``TypeError`` (a NaN a ``ValueError``) in the caller, with nothing stored.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from .records import NewTask

__all__ = ["INSERT", "INSERT_ONE", "Row", "encode", "insert", "rows_of"]

Row = tuple[Any, ...]  # the INSERT's parameters, in INSERT's column order

INSERT = (
    "INSERT INTO task (engine, name, args, kwargs, headers, priority, run_at, max_retry, retry_delay,"
    " rerun_lost, enqueued_at, state, attempts, lease_owner, lease_until, started_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

INSERT_ONE = INSERT + " RETURNING id"

_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def encode(value: object, what: str) -> str:
    try:
        return _encoder.encode(value)
    except (TypeError, ValueError) as error:
        raise type(error)(f"{what} must be JSON to be stored: {error}") from None


def rows_of(tasks: Sequence[NewTask], owner: str | None, lease: float) -> list[Row]:
    """The rows for ``tasks``; with ``owner``, the due ones are inserted already claimed by it."""
    now = time.time()
    rows: list[Row] = []
    for index, task in enumerate(tasks):
        if not isinstance(task, NewTask):
            raise TypeError(f"item {index}: a NewTask, not {type(task).__name__}")
        try:
            args = encode(task.args, "the arguments") if task.args else "[]"
            kwargs = encode(task.kwargs, "the keyword arguments") if task.kwargs else "{}"
            headers = encode(task.headers, "the headers") if task.headers else "{}"
        except (TypeError, ValueError) as error:
            raise type(error)(f"item {index} ({task.name}): {error}") from None
        run_at = task.run_at or now
        if owner is not None and run_at <= now:
            claim: Row = ("running", 1, owner, now + lease, now)
        else:
            claim = ("pending", 0, None, None, None)
        rows.append(
            (
                task.engine,
                task.name,
                args,
                kwargs,
                headers,
                task.priority,
                run_at,
                task.max_retry,
                task.retry_delay,
                task.rerun_lost,
                now,
                *claim,
            )
        )
    return rows


def insert(connection: sqlite3.Connection, groups: Sequence[list[Row]]) -> list[list[int]]:
    """Insert every group's rows; their ids, group by group, in order.

    The ids of one INSERT run under the write lock are consecutive (each new row gets one
    more than the largest rowid), so they are read off the last one.
    """
    rows = [row for group in groups for row in group]
    connection.executemany(INSERT, rows)
    last = connection.execute("SELECT last_insert_rowid()").fetchone()[0]
    first = last - len(rows) + 1
    answers: list[list[int]] = []
    for group in groups:
        answers.append(list(range(first, first + len(group))))
        first += len(group)
    return answers
