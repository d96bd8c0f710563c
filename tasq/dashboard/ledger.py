"""``LedgerSource``: the dashboard of a broker engine, read from its Redis ledger.

A web process whose engine sends tasks to workers elsewhere (Dramatiq or Celery over Redis)
sees none of their hooks fire: what it shows comes from the ledger the workers report to,
so every process sharing that Redis sees the same page. Per snapshot: one SCAN of the
engine's task records and one pipelined read per thousand (``ledger_keys.py``).

What the ledger holds: each live task's status, attempt and times; with ``results=N`` on the
enqueuing engine, the last N finished ones with their outcome, and for a failure its error,
traceback and call (name and arguments). Not the name of a task that has not failed: the
``LedgerNames`` hook writes it beside the record as the task is enqueued (one Redis round
trip per enqueue, in the enqueuing process), so it shows from every process.

``cancel`` and ``retry`` are the engine's own (the ledger's cancel mark; a failed record's
call enqueued again).
"""

from __future__ import annotations

import threading
import time
import weakref
from bisect import bisect_left
from typing import Any

from ..engine import TasQ
from ..hooks import Hooks
from ..task import Stats
from .describe import call_arguments
from .ledger_keys import FINISHED, SCAN_LIMIT, Record, Scan, Told, details, name_of_call, read_records, task_key
from .memory import quantile
from .records import Failure, NameSummary, Snapshot, TaskLine
from .schedules import schedules_of
from .source import SharedSource

__all__ = ["LedgerNames", "LedgerSource", "reads_ledger"]

_RATE_WINDOW = 60.0


def reads_ledger(engine: TasQ) -> bool:
    """Whether ``engine`` runs its tasks in other processes, so a ``LedgerSource`` shows them."""
    if engine.runs_tasks_in_process or engine.eager:
        return False
    from ..backends.base import BrokerEngine

    return isinstance(engine, BrokerEngine) and not engine.local_worker


def redis_of(engine: TasQ) -> Any | None:
    """The Redis client of ``engine``'s ledger, connecting as its first enqueue would; None
    when the broker has no Redis beside it (RabbitMQ alone)."""
    from ..backends.base import BrokerEngine
    from ..backends.redis_ledger import RedisLedger

    if not isinstance(engine, BrokerEngine):
        return None
    ledger = engine._connected()
    return ledger._client if isinstance(ledger, RedisLedger) else None


class LedgerNames(Hooks):
    """Writes each task's name into its ledger record as it is enqueued (no worker has the
    message yet, so the record cannot be gone; on Celery over Redis the record is written
    with the message just after, and keeps the name)."""

    def __init__(self, engine: TasQ) -> None:
        self._engine = weakref.ref(engine)
        self._name = engine.name

    def before_enqueue(self, task_id: int, name: str, headers: dict[str, str]) -> None:
        engine = self._engine()
        if engine is None or engine.eager:
            return
        client = redis_of(engine)
        if client is not None:
            client.hset(task_key(self._name, task_id), "name", name)


class LedgerSource(SharedSource):
    """The ``DashboardSource`` of a broker engine whose workers report to a Redis ledger."""

    scope = "every process sharing the broker's Redis"

    def __init__(self, engine: TasQ, *, limit: int = SCAN_LIMIT) -> None:
        super().__init__(engine)
        self._limit = limit
        self._finished: dict[int, Record] = {}  # finished records read before: they do not change
        self._reading = threading.Lock()  # one snapshot at a time updates them
        self.names_written = True
        try:
            engine.add_hooks(LedgerNames(engine))
        except RuntimeError:  # already started: names of tasks that failed only
            self.names_written = False

    def snapshot(self, *, args: bool = True, limit: int = 50) -> Snapshot:
        engine = self.engine()
        client = redis_of(engine)
        now = time.time()
        if client is None:
            return self._without_ledger(engine, now)
        with self._reading:
            scan = read_records(client, self.name, self._finished, self._limit)
        live = [r for r in scan.records if r.status not in FINISHED]
        finished = [r for r in scan.records if r.status in FINISHED]
        running = sorted((r for r in live if r.status == "RUNNING"), key=_by_id)
        waiting = sorted((r for r in live if r.status == "PENDING"), key=_by_id)
        failed = sorted((r for r in finished if r.status == "FAILED"), key=_newest)[:limit]
        told = details(client, self.name, [r.task_id for r in failed]) if failed else {}
        return Snapshot(
            engine=self.name,
            scope=self.scope,
            taken_at=now,
            stats=_stats(engine, scan, live, finished),
            names=_summaries(finished, now),
            running=tuple(_line(r, "running") for r in running[:limit]),
            waiting=tuple(_line(r, "retrying" if r.attempts else "pending") for r in waiting[:limit]),
            periodic=schedules_of(engine),
            failures=tuple(_failure(r, told[r.task_id], args, self._retried.get(r.task_id)) for r in failed),
            can_cancel=True,
            can_retry=True,
            blind=self._blind(engine, scan),
        )

    def _blind(self, engine: TasQ, scan: Scan) -> tuple[str, ...]:
        blind = ["arguments of tasks until they fail", "when delayed tasks and retries fall due"]
        if not self.names_written:
            blind.append("names of tasks until they fail: the dashboard was set up after the engine started")
        if not engine.results:
            blind.append("finished tasks: this engine keeps none (results=0); set results=N to keep the last N")
        else:
            blind.append(f"finished tasks beyond the last {engine.results:,} (results={engine.results})")
        if not scan.complete:
            blind.append(f"tasks beyond the first {self._limit:,} records read")
        return tuple(blind)

    def _without_ledger(self, engine: TasQ, now: float) -> Snapshot:
        return Snapshot(
            engine=self.name,
            scope="this process",
            taken_at=now,
            stats=engine.stats(),
            names=(),
            running=(),
            waiting=(),
            periodic=schedules_of(engine),
            failures=(),
            can_cancel=False,
            can_retry=False,
            blind=("tasks: they run in worker processes, and this broker has no Redis ledger beside it to read",),
        )


def _by_id(record: Record) -> int:
    return record.task_id


def _newest(record: Record) -> tuple[float, int]:
    return (-(record.finished_at or 0.0), -record.task_id)


def _name(record: Record) -> str | None:
    return record.name or name_of_call(record.call)


def _line(record: Record, state: Any) -> TaskLine:
    return TaskLine(
        task_id=record.task_id,
        name=_name(record),
        state=state,
        attempt=record.attempts if state == "running" else record.attempts + 1,
        enqueued_at=record.enqueued_at,
        started_at=record.started_at if state == "running" else None,
        run_at=None,
        args=None,
    )


def _failure(record: Record, told: Told, args: bool, retried_as: int | None) -> Failure:
    error, trace, call = told
    error_type = record.error_type or "Error"
    cancelled = error_type == "TaskCancelled"
    return Failure(
        task_id=record.task_id,
        name=_name(record),
        error=f"{error_type}: {error}" if error else error_type,
        traceback="" if cancelled else trace,
        attempts=max(1, record.attempts),
        finished_at=record.finished_at or 0.0,
        cancelled=cancelled,
        args=call_arguments(*call) if args and call is not None else None,
        retried_as=retried_as,
    )


def _stats(engine: TasQ, scan: Scan, live: list[Record], finished: list[Record]) -> Stats:
    """Across processes: live tasks from their records, outcomes over the finished ones kept."""
    cancelled = sum(1 for r in finished if r.error_type == "TaskCancelled")
    return Stats(
        enqueued=scan.accepted,
        pending=sum(1 for r in live if r.status == "PENDING"),  # not those marked cancelled
        running=sum(1 for r in live if r.status == "RUNNING"),
        done=sum(1 for r in finished if r.status == "DONE"),
        failed=sum(1 for r in finished if r.status == "FAILED"),
        retried=sum(max(0, r.attempts - 1) for r in finished),
        cancelled=cancelled,
        workers=engine.stats().workers,
    )


def _summaries(finished: list[Record], now: float) -> tuple[NameSummary, ...]:
    by_name: dict[str, list[Record]] = {}
    for record in finished:
        name = _name(record)
        if name is not None:
            by_name.setdefault(name, []).append(record)
    since = now - _RATE_WINDOW
    summaries = []
    for name in sorted(by_name):
        records = by_name[name]
        durations = sorted(
            r.finished_at - r.started_at for r in records if r.finished_at is not None and r.started_at is not None
        )
        times = sorted(r.finished_at for r in records if r.finished_at is not None)
        summaries.append(
            NameSummary(
                name=name,
                done=sum(1 for r in records if r.status == "DONE"),
                failed=sum(1 for r in records if r.status == "FAILED"),
                rate=(len(times) - bisect_left(times, since)) * 60.0 / _RATE_WINDOW,
                p50=quantile(durations, 0.5),
                p95=quantile(durations, 0.95),
            )
        )
    return tuple(summaries)
