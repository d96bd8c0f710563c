"""Reading a broker engine's Redis ledger as the dashboard needs it: every record at once.

The ledger (``tasq.backends.ledger.RedisLedger``) answers one task at a time; a dashboard
wants them all. This module reads its key layout directly, read-only:

- ``tasq:<engine>:task:<id>``: one hash per task, live or finished and kept, with ``status``
  (``PENDING``, ``RUNNING``, ``CANCELLED`` (marked, not yet reported), ``DONE``, ``FAILED``),
  ``attempts``, ``enqueued_at``, ``started_at`` (of the first attempt), ``finished_at``, and
  for a failure ``error_type``, ``error``, ``traceback`` and ``call`` (JSON ``[name, args,
  kwargs]``); ``name`` when the dashboard's hook (``LedgerNames``) or the ledger wrote it;
- ``tasq:<engine>:ids``: the last id given, so the number of tasks ever accepted.

Finished records exist only with ``results=N`` on the enqueuing engine (the last N are kept);
with ``results=0`` a record is deleted when its task finishes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["FINISHED", "SCAN_LIMIT", "Record", "Scan", "Told", "details", "name_of_call", "read_records", "task_key"]

SCAN_LIMIT = 100_000  # records read per snapshot, at most: a backlog beyond shows as counts
_FIELDS = ("status", "attempts", "enqueued_at", "started_at", "finished_at", "name", "error_type", "call")
_BATCH = 1_000
_SCAN_BATCH = 5_000  # keys per SCAN step: a few milliseconds of Redis each
FINISHED = ("DONE", "FAILED")
# A failure card's text: its error message, traceback, and (args, kwargs) when its call was kept.
Told = tuple[str, str, tuple[list[Any], dict[str, Any]] | None]


@dataclass(frozen=True, slots=True)
class Record:
    """One task's hash, as read (``call`` still JSON text: decoded only for the cards shown)."""

    task_id: int
    status: str
    attempts: int
    enqueued_at: float | None
    started_at: float | None
    finished_at: float | None
    name: str | None
    error_type: str | None
    call: str | None


@dataclass(frozen=True, slots=True)
class Scan:
    records: list[Record]
    accepted: int  # ids given so far: every task any process enqueued
    complete: bool  # False when SCAN_LIMIT records were read and more remained


def task_key(engine: str, task_id: int) -> str:
    return f"tasq:{engine}:task:{task_id}"


def read_records(client: Any, engine: str, finished: dict[int, Record], limit: int = SCAN_LIMIT) -> Scan:
    """Every task record of ``engine``: one SCAN, and one pipelined HMGET per thousand records
    not in ``finished`` (a finished record no longer changes: the caller keeps them there, and
    this drops those that are gone)."""
    prefix = f"tasq:{engine}:task:"
    found: list[int] = []
    records: list[Record] = []
    present: set[int] = set()
    complete = True
    for key in client.scan_iter(match=prefix + "*", count=_SCAN_BATCH):
        tail = _text(key)[len(prefix) :]
        if not tail.isdigit():
            continue
        task_id = int(tail)
        present.add(task_id)
        known = finished.get(task_id)
        if known is not None:
            records.append(known)
        else:
            found.append(task_id)
        if len(present) >= limit:
            complete = False
            break
    for gone in finished.keys() - present:
        del finished[gone]
    for start in range(0, len(found), _BATCH):
        batch = found[start : start + _BATCH]
        pipe = client.pipeline(transaction=False)
        for task_id in batch:
            pipe.hmget(prefix + str(task_id), *_FIELDS)
        for task_id, values in zip(batch, pipe.execute(), strict=True):
            record = _record(task_id, values)
            if record is not None:
                records.append(record)
                if record.status in FINISHED:
                    finished[task_id] = record
    accepted = client.get(f"tasq:{engine}:ids")
    return Scan(records=records, accepted=int(accepted) if accepted is not None else 0, complete=complete)


def details(client: Any, engine: str, task_ids: list[int]) -> dict[int, Told]:
    """For the failure cards shown: ``(error, traceback, (args, kwargs) or None)`` by id."""
    pipe = client.pipeline(transaction=False)
    for task_id in task_ids:
        pipe.hmget(task_key(engine, task_id), "error", "traceback", "call")
    told: dict[int, Told] = {}
    for task_id, (error, trace, call) in zip(task_ids, pipe.execute(), strict=True):
        told[task_id] = (_text(error) if error else "", _text(trace) if trace else "", _call(call))
    return told


def name_of_call(call: str | None) -> str | None:
    """The task name a failed record's ``call`` keeps."""
    if not call:
        return None
    try:
        name = json.loads(call)[0]
    except (ValueError, IndexError, KeyError, TypeError):
        return None
    return name if isinstance(name, str) else None


def _call(call: Any) -> tuple[list[Any], dict[str, Any]] | None:
    if not call:
        return None
    try:
        _, args, kwargs = json.loads(_text(call))
    except (ValueError, TypeError):
        return None
    return (list(args), dict(kwargs)) if isinstance(args, list) and isinstance(kwargs, dict) else None


def _record(task_id: int, values: list[Any]) -> Record | None:
    status, attempts, enqueued_at, started_at, finished_at, name, error_type, call = (
        None if value is None else _text(value) for value in values
    )
    if status is None:
        return None  # deleted between the SCAN and the read (finished with results=0)
    return Record(
        task_id=task_id,
        status=status,
        attempts=int(attempts) if attempts else 0,
        enqueued_at=_seconds(enqueued_at),
        started_at=_seconds(started_at),
        finished_at=_seconds(finished_at),
        name=name or None,
        error_type=error_type or None,
        call=call or None,
    )


def _seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
