"""``StoreSource``: the dashboard of a store engine, read from its journal.

Every process sharing the store sees the same page: the counts, the running and waiting
rows (delays and retries with when they fall due), recent failures with their tracebacks,
and per task name the rates and durations of the newest finished rows kept (``results``).
A snapshot is a handful of indexed reads on the store's own read connection, which never
waits for the writer.
"""

from __future__ import annotations

import json
import time
from bisect import bisect_left
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from ..store import TaskRecord
from .describe import call_arguments
from .memory import quantile
from .records import Failure, NameSummary, Snapshot, TaskLine
from .schedules import schedules_of
from .source import SharedSource

if TYPE_CHECKING:
    from ..stored import StoreEngine

__all__ = ["StoreSource"]

_RATE_WINDOW = 60.0
_RECENT = 2_000  # the newest finished rows, over which the per-name figures are taken


class StoreSource(SharedSource):
    """The ``DashboardSource`` of ``TasQ(store=...)``."""

    scope = "every process sharing the store"

    def snapshot(self, *, args: bool = True, limit: int = 50) -> Snapshot:
        engine = cast("StoreEngine", self.engine())
        journal = engine.journal
        now = time.time()
        running = journal.listing(self.name, "running", limit)
        pending = journal.listing(self.name, "pending", limit)
        ended = journal.failures(self.name, limit)
        return Snapshot(
            engine=self.name,
            scope=self.scope,
            taken_at=now,
            stats=engine.stats(),
            names=_summaries(journal.recent_runs(self.name, _RECENT), now),
            running=tuple(_line(record, "running", args, now) for record in running),
            waiting=tuple(_line(record, _waiting(record, now), args, now) for record in pending),
            periodic=schedules_of(engine),
            failures=tuple(_failure(record, args, self._retried.get(record.id)) for record in ended),
            can_cancel=True,
            can_retry=True,
            blind=_blind(engine.results),
        )


def _blind(results: int) -> tuple[str, ...]:
    figures = f"per-name rates and durations beyond the newest {_RECENT:,} finished tasks"
    if not results:
        return ("finished tasks once pruned: this engine keeps none for long (results=0); set results=N", figures)
    return (f"finished tasks beyond the last {results:,} (results={results})", figures)


def _waiting(record: TaskRecord, now: float) -> Any:
    if record.attempts:
        return "retrying"
    return "delayed" if record.run_at > now else "pending"


def _arguments(record: TaskRecord, shown: bool) -> str | None:
    if not shown:
        return None
    try:
        args, kwargs = json.loads(record.args), json.loads(record.kwargs)
    except ValueError:
        return f"(arguments that no longer load: {record.args[:80]!r})"
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        return f"(arguments that no longer load: {record.args[:80]!r})"
    return call_arguments(args, kwargs)


def _line(record: TaskRecord, state: Any, args: bool, now: float) -> TaskLine:
    running = state == "running"
    return TaskLine(
        task_id=record.id,
        name=record.name,
        state=state,
        attempt=record.attempts if running else record.attempts + 1,
        enqueued_at=record.enqueued_at,
        started_at=record.started_at if running else None,
        run_at=None if running else record.run_at,
        args=_arguments(record, args),
    )


def _failure(record: TaskRecord, args: bool, retried_as: int | None) -> Failure:
    cancelled = record.state == "cancelled"
    error_type = (record.error_type or "Error").rpartition(".")[2]
    message = record.error_message or ""
    return Failure(
        task_id=record.id,
        name=record.name,
        error=f"{error_type}: {message}" if message else error_type,
        traceback="" if cancelled else (record.error_traceback or ""),
        attempts=max(1, record.attempts),
        finished_at=record.finished_at or 0.0,
        cancelled=cancelled,
        args=_arguments(record, args),
        retried_as=retried_as,
    )


def _summaries(rows: Sequence[tuple[str, str, float | None, float | None]], now: float) -> tuple[NameSummary, ...]:
    by_name: dict[str, list[tuple[str, float | None, float | None]]] = {}
    for name, state, started_at, finished_at in rows:
        by_name.setdefault(name, []).append((state, started_at, finished_at))
    since = now - _RATE_WINDOW
    summaries = []
    for name in sorted(by_name):
        runs = by_name[name]
        durations = sorted(end - start for _, start, end in runs if start is not None and end is not None)
        times = sorted(end for _, _, end in runs if end is not None)
        summaries.append(
            NameSummary(
                name=name,
                done=sum(1 for state, _, _ in runs if state == "done"),
                failed=sum(1 for state, _, _ in runs if state != "done"),
                rate=(len(times) - bisect_left(times, since)) * 60.0 / _RATE_WINDOW,
                p50=quantile(durations, 0.5),
                p95=quantile(durations, 0.95),
            )
        )
    return tuple(summaries)
