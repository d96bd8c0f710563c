"""Accepting tasks: rows built in the caller's thread, inserted many to a statement.

JSON is encoded here, before anything is queued for the commit, so that an argument that
is not JSON is a ``TypeError`` (a NaN a ``ValueError``) in the caller, with nothing stored.

A row holds the values of its non-NULL columns only, the optional ones last: binding
``None`` (or a ``bool``) costs Python's ``sqlite3`` a failed adaptation each, which made a
row's insert half as dear again; so a NULL column is left out of the statement instead,
and the row's length says which shape it has. Rows are inserted up to ``CHUNK`` to one
``INSERT ... VALUES (...), (...)``: two thirds of ``executemany``'s instructions per row
(callgrind: 16,200 against 25,300 for the same rows, 42,700 with their NULLs bound), and
one statement for what concurrent callers commit together. The connection's statement
cache holds every such statement (``SHAPES * CHUNK`` of them).
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import time
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from .records import NewTask

__all__ = [
    "ARGS",
    "CHUNK",
    "COLUMNS",
    "ENGINE",
    "ENQUEUED_AT",
    "HEADERS",
    "KWARGS",
    "MAX_RETRY",
    "NAME",
    "PRIORITY",
    "RERUN_LOST",
    "RUN_AT",
    "STATEMENTS",
    "Row",
    "claimed",
    "encode",
    "insert",
    "insert_rows",
    "insert_sql",
    "one_statement",
    "pending",
    "retry_delay_of",
    "rows_of",
]

Row = tuple[Any, ...]  # the values of COLUMNS a row sets, in order (see _SHAPES)

COLUMNS = (
    "engine",
    "name",
    "args",
    "kwargs",
    "headers",
    "priority",
    "run_at",
    "max_retry",
    "rerun_lost",
    "enqueued_at",
    "state",
    "attempts",
    "retry_delay",
    "lease_owner",
    "lease_until",
    "started_at",
)
# Where every row holds these (a row's first values).
ENGINE, NAME, ARGS, KWARGS, HEADERS, PRIORITY, RUN_AT, MAX_RETRY, RERUN_LOST, ENQUEUED_AT = range(10)

# A row's length is its shape: pending or claimed (owner, lease end, start), with or
# without its own retry_delay.
_SHAPES = {12: COLUMNS[:12], 13: COLUMNS[:13], 15: COLUMNS[:12] + COLUMNS[13:], 16: COLUMNS}
CHUNK = 64  # rows per INSERT at most (16 columns: 1,024 parameters, SQLite takes 32,766)
STATEMENTS = len(_SHAPES) * CHUNK  # the INSERTs there can be

_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def encode(value: object, what: str) -> str:
    try:
        return _encoder.encode(value)
    except (TypeError, ValueError) as error:
        raise type(error)(f"{what} must be JSON to be stored: {error}") from None


def pending(
    engine: str,
    name: str,
    args: str,
    kwargs: str,
    headers: str,
    priority: int,
    run_at: float,
    max_retry: int,
    retry_delay: float | None,
    rerun_lost: bool,
    now: float,
) -> Row:
    """A pending row: the task waits in the store for a claim."""
    row = (engine, name, args, kwargs, headers, priority, run_at, max_retry, 1 if rerun_lost else 0, now, "pending", 0)
    return row if retry_delay is None else (*row, retry_delay)


def retry_delay_of(row: Row) -> float | None:
    """A row's own retry_delay (None: the engine's policy, looked up by name where it runs)."""
    if len(row) in (13, 16):
        delay: float = row[12]
        return delay
    return None


def claimed(row: Row, owner: str, until: float) -> Row:
    """``row`` (pending) stored claimed by ``owner`` instead: attempt 1, leased to ``until``."""
    head = row[:10]
    now = row[ENQUEUED_AT]
    if len(row) == 12:
        return (*head, "running", 1, owner, until, now)
    return (*head, "running", 1, row[12], owner, until, now)


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
        row = pending(
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
        )
        rows.append(claimed(row, owner, now + lease) if owner is not None and run_at <= now else row)
    return rows


@lru_cache(maxsize=STATEMENTS)
def insert_sql(width: int, count: int = 1) -> str:
    """The INSERT of ``count`` rows of length ``width``."""
    try:
        columns = _SHAPES[width]
    except KeyError:
        raise ValueError(f"a row of {width} values has no shape: make it with tasq.store.writes") from None
    values = "(" + ",".join("?" * width) + ")"
    return f"INSERT INTO task ({', '.join(columns)}) VALUES " + ",".join([values] * count)


def one_statement(rows: list[Row]) -> bool:
    """Are ``rows`` inserted by one statement (atomic alone, in SQLite's autocommit)?"""
    return len(rows) <= CHUNK and len(set(map(len, rows))) == 1


def insert(connection: sqlite3.Connection, groups: Sequence[list[Row]]) -> list[list[int]]:
    """Insert every group's rows; their ids, group by group, in order.

    The ids of rows inserted under the write lock are consecutive (each new row gets one
    more than the largest rowid), so they are read off the last one.
    """
    rows = groups[0] if len(groups) == 1 else [row for group in groups for row in group]
    last = insert_rows(connection, rows)
    first = last - len(rows) + 1
    answers: list[list[int]] = []
    for group in groups:
        answers.append(list(range(first, first + len(group))))
        first += len(group)
    return answers


def insert_rows(connection: sqlite3.Connection, rows: list[Row]) -> int:
    """Insert ``rows`` in order (the caller holds the write lock); the last one's id."""
    widths = set(map(len, rows))
    if len(widths) == 1:
        return _insert_run(connection, rows, widths.pop())
    last = 0
    for width, run in itertools.groupby(rows, len):
        last = _insert_run(connection, list(run), width)
    return last


def _insert_run(connection: sqlite3.Connection, rows: list[Row], width: int) -> int:
    if len(rows) == 1:
        return connection.execute(insert_sql(width), rows[0]).lastrowid or 0
    last = 0
    start, total = 0, len(rows)
    chain = itertools.chain.from_iterable
    while start < total:
        left = total - start
        count = CHUNK if left >= CHUNK else left
        last = connection.execute(insert_sql(width, count), list(chain(rows[start : start + count]))).lastrowid or 0
        start += count
    return last
