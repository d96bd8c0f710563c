"""A ``Snapshot`` as JSON: the shape ``data.json`` answers, one key per record field.

``{"engine", "scope", "taken_at", "stats": {...}, "names": [...], "running": [...],
"waiting": [...], "periodic": [...], "failures": [...], "can_cancel", "can_retry", "blind"}``;
each list holds objects whose keys are the record's fields (``records.py``). Times are
seconds since the epoch. An ``args`` key is left out altogether when arguments are hidden.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from .records import Failure, NameSummary, Periodic, Snapshot, TaskLine

__all__ = ["snapshot_json"]


def snapshot_json(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "engine": snapshot.engine,
        "scope": snapshot.scope,
        "taken_at": snapshot.taken_at,
        "stats": asdict(snapshot.stats),
        "names": [_name(summary) for summary in snapshot.names],
        "running": [_line(line) for line in snapshot.running],
        "waiting": [_line(line) for line in snapshot.waiting],
        "periodic": [_periodic(periodic) for periodic in snapshot.periodic],
        "failures": [_failure(failure) for failure in snapshot.failures],
        "can_cancel": snapshot.can_cancel,
        "can_retry": snapshot.can_retry,
        "blind": list(snapshot.blind),
    }


def _name(summary: NameSummary) -> dict[str, Any]:
    return {
        "name": summary.name,
        "done": summary.done,
        "failed": summary.failed,
        "rate": summary.rate,
        "p50": summary.p50,
        "p95": summary.p95,
    }


def _line(line: TaskLine) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "task_id": line.task_id,
        "name": line.name,
        "state": line.state,
        "attempt": line.attempt,
        "enqueued_at": line.enqueued_at,
        "started_at": line.started_at,
        "run_at": line.run_at,
    }
    if line.args is not None:
        shown["args"] = line.args
    return shown


def _periodic(periodic: Periodic) -> dict[str, Any]:
    return {"name": periodic.name, "schedule": periodic.schedule, "next_run": periodic.next_run}


def _failure(failure: Failure) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "task_id": failure.task_id,
        "name": failure.name,
        "error": failure.error,
        "traceback": failure.traceback,
        "attempts": failure.attempts,
        "finished_at": failure.finished_at,
        "cancelled": failure.cancelled,
        "retried_as": failure.retried_as,
    }
    if failure.args is not None:
        shown["args"] = failure.args
    return shown
