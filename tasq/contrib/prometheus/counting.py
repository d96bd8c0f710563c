"""Counting a task's events: the hooks, and the sums of what every thread counted.

Each thread owns one row of floats per task name (counts, then each histogram's buckets
and sum) and is its only writer, so the hot path takes no lock; ``Sums`` adds the rows up.
"""

from __future__ import annotations

import os
import threading
import time
import types
from bisect import bisect_left
from collections.abc import Awaitable, Callable
from typing import TypeVar

import tasq
from tasq.exceptions import RetryTask, TaskCancelled

__all__ = [
    "CANCELLED",
    "COUNTERS",
    "DURATION_BUCKETS",
    "ENQUEUED",
    "LABELS",
    "RETRIED",
    "SENT_AT",
    "STARTED",
    "SUCCEEDED",
    "UNSTARTED",
    "WAIT_BUCKETS",
    "Metrics",
    "Sums",
    "buckets",
    "in_progress",
    "multiprocess_dir",
    "queue_depth",
]

DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
WAIT_BUCKETS = DURATION_BUCKETS
T = TypeVar("T")

LABELS = ("engine", "task")
COUNTERS = (
    ("tasq_tasks_enqueued_total", "Tasks accepted by the engine.", 0),
    ("tasq_tasks_started_total", "Attempts started.", 1),
    ("tasq_tasks_succeeded_total", "Tasks that succeeded.", 2),
    ("tasq_tasks_retried_total", "Attempts that asked for a retry (RetryTask) and got one.", 3),
    ("tasq_tasks_cancelled_total", "Tasks cancelled before or while they ran.", 4),
)
# One row of floats per thread and task name: the counts, then each histogram's buckets
# (the last one +Inf) and its sum. Only the row's thread writes it. An attempt that ended
# is one duration observed, a task that left the queue one wait observed (or one cancelled
# before it started): the gauges are differences of these, with no count of their own.
ENQUEUED, STARTED, SUCCEEDED, RETRIED, CANCELLED, UNSTARTED = range(6)
_BUCKETS = len(DURATION_BUCKETS) + 1
_DURATION = 6
_DURATION_SUM = _DURATION + _BUCKETS
_WAIT = _DURATION_SUM + 1
_WAIT_SUM = _WAIT + _BUCKETS
_ROW = _WAIT_SUM + 1
if (_DURATION_SUM, _WAIT, _WAIT_SUM, len(WAIT_BUCKETS) + 1) != (22, 23, 39, _BUCKETS):
    raise RuntimeError("the row layout changed: update the literal indices of Metrics.around_task")

SENT_AT = "tasq-sent-at"  # the header with the producer's time.time() at enqueue, on a broker
_clock = time.perf_counter
_CoroutineType = types.CoroutineType


class Metrics(tasq.Hooks):
    """The hooks that count, on the success path in ``before_enqueue`` and ``around_task`` only.

    Those two run for every task: each instance binds them once as closures over its own
    tallies and constants (``_bind``), so a task pays no attribute or global lookups in them,
    only the dict and list operations that count it. ``reset`` clears the tallies in place,
    so the closures the engine holds keep counting into them.
    """

    def __init__(self, engine: tasq.TasQ, in_process: bool) -> None:
        self.engine = engine.name
        self.in_process = in_process  # the engine runs what it accepts: it can tell the queue's depth
        self.flush: Callable[[], None] | None = None  # writes this process's sums (multiprocess mode)
        self.tallies: list[tuple[dict[str, list[float]], dict[tuple[str, str], int]]] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        self._queued: dict[int, tuple[str, float]] = {}  # task id -> (name, when it was accepted)
        self._failing: dict[int, str] = {}  # task id -> name, from an attempt's error to its report
        self._retrying: dict[int, str] = {}  # task id -> name, from a retry to the next attempt
        self._bind()

    def reset(self) -> None:
        """Counting from zero (and in a forked child: what the parent counted is the parent's)."""
        self._lock = threading.Lock()  # a parent's thread may have held the old one at fork()
        for rows, failed in self.tallies:
            rows.clear()  # a thread that no longer exists keeps an empty row set: it adds nothing
            failed.clear()
        self._queued.clear()
        self._failing.clear()
        self._retrying.clear()

    def _rows(self) -> dict[str, list[float]]:
        try:
            rows: dict[str, list[float]] = self._local.rows
        except AttributeError:
            failed: dict[tuple[str, str], int]
            rows, failed = {}, {}
            self._local.rows, self._local.failed = rows, failed
            with self._lock:
                self.tallies.append((rows, failed))
        return rows

    def _row(self, name: str) -> list[float]:
        rows = self._rows()
        row = rows.get(name)
        if row is None:
            row = rows[name] = [0.0] * _ROW
        return row

    def before_enqueue(self, task_id: int, name: str, headers: dict[str, str]) -> None:
        raise NotImplementedError  # replaced per instance by _bind

    def around_task(self, task_id: int, call: Callable[[], T]) -> T:
        raise NotImplementedError  # replaced per instance by _bind

    def _bind(self) -> None:
        local, queued, failing = self._local, self._queued, self._failing
        remember, take = queued.__setitem__, queued.pop
        slow_row, origin, awaited = self._row, self._origin, self._awaited
        in_process, clock, bisect, now = self.in_process, _clock, bisect_left, time.time
        coroutine, waits, durations = _CoroutineType, WAIT_BUCKETS, DURATION_BUCKETS
        first_wait, first_duration = waits[0], durations[0]

        def before_enqueue(task_id: int, name: str, headers: dict[str, str]) -> None:
            try:
                local.rows[name][0] += 1  # ENQUEUED, as a literal: this runs in every enqueue
            except (AttributeError, KeyError):
                slow_row(name)[0] += 1
            if in_process:
                remember(task_id, (name, clock()))
            else:  # another process runs it: the wait is measured there, from this clock reading
                headers[SENT_AT] = repr(now())

        def around_task(task_id: int, call: Callable[[], T]) -> T:
            accepted = take(task_id, None)
            started = clock()
            wait: float | None
            if accepted is not None:
                name, wait = accepted[0], started - accepted[1]
            else:
                name, wait = origin(task_id)
            try:
                row = local.rows[name]
            except (AttributeError, KeyError):
                row = slow_row(name)
            # The indices are literals (see the layout above): this runs once per attempt.
            # A comparison before the bisect: most waits and durations fall in the first bucket.
            if wait is not None:
                row[23 if wait <= first_wait else 23 + bisect(waits, wait)] += 1  # _WAIT
                row[39] += wait  # _WAIT_SUM
            row[1] += 1  # STARTED
            try:
                value = call()
            except BaseException:
                _ended(row, started)
                failing[task_id] = name
                raise
            if type(value) is coroutine:
                return awaited(task_id, name, started, value)  # type: ignore[arg-type, return-value]
            duration = clock() - started
            row[6 if duration <= first_duration else 6 + bisect(durations, duration)] += 1  # _DURATION
            row[22] += duration  # _DURATION_SUM
            row[2] += 1  # SUCCEEDED
            return value

        # Instance attributes: the engine's hook lists take them in place of the methods.
        self.__dict__.update(before_enqueue=before_enqueue, around_task=around_task)

    def _origin(self, task_id: int) -> tuple[str, float | None]:
        """A retry's name, or a task sent by another process: its name, and how long it waited."""
        name = self._retrying.pop(task_id, None)
        if name is not None:
            return name, None
        running = tasq.current_task()
        if running is None:
            return "unknown", None
        sent = running.headers.get(SENT_AT) if running.attempt == 1 else None
        try:
            return running.name, None if sent is None else max(0.0, time.time() - float(sent))
        except ValueError:
            return running.name, None

    async def _awaited(self, task_id: int, name: str, started: float, coro: Awaitable[T]) -> T:
        try:
            value = await coro
        except BaseException:
            _ended(self._row(name), started)
            self._failing[task_id] = name
            raise
        row = self._row(name)
        _ended(row, started)
        row[SUCCEEDED] += 1
        return value

    def after_retry(self, task_id: int, error: RetryTask) -> None:
        name = self._failing.pop(task_id, None) or _running_name()
        self._row(name)[RETRIED] += 1
        self._retrying[task_id] = name

    def after_failed(self, task_id: int, error: BaseException) -> None:
        name = self._failing.pop(task_id, None)
        retrying = self._retrying.pop(task_id, None)  # a retry cancelled before it ran
        name = name or retrying
        if name is None:
            queued = self._queued.pop(task_id, None)
            if queued is not None:  # cancelled before it started
                name = queued[0]
                self._row(name)[UNSTARTED] += 1
            else:
                name = _running_name()
        row = self._row(name)
        if isinstance(error, TaskCancelled):
            row[CANCELLED] += 1
        failed: dict[tuple[str, str], int] = self._local.failed
        key = (name, type(error).__name__)
        failed[key] = failed.get(key, 0) + 1

    def worker_stopped(self) -> None:
        if self.flush is not None:
            self.flush()  # what a drain at exit ran is counted too


def _ended(row: list[float], started: float) -> None:
    duration = _clock() - started
    row[_DURATION + bisect_left(DURATION_BUCKETS, duration)] += 1
    row[_DURATION_SUM] += duration


def in_progress(row: list[float]) -> float:
    """Attempts started and not ended: each ended attempt observed one duration."""
    return row[STARTED] - sum(row[_DURATION:_DURATION_SUM])


def queue_depth(row: list[float]) -> float:
    """Tasks accepted and not started: each started one observed one wait (in-process)."""
    return row[ENQUEUED] - sum(row[_WAIT:_WAIT_SUM]) - row[UNSTARTED]


def _running_name() -> str:
    running = tasq.current_task()
    return "unknown" if running is None else running.name


# -- sums ---------------------------------------------------------------------------------


class Sums:
    """Every instrumented engine's rows, added up."""

    def __init__(self, metrics: list[Metrics]) -> None:
        totals: dict[tuple[str, str], list[float]] = {}
        self.failed: dict[tuple[str, str, str], int] = {}
        for each in metrics:
            with each._lock:
                tallies = list(each.tallies)
            for rows, failed in tallies:
                for name, row in list(rows.items()):
                    total = totals.get((each.engine, name))
                    if total is None:
                        totals[(each.engine, name)] = list(row)
                    else:
                        for index, value in enumerate(row):
                            total[index] += value
                for (name, exception), count in list(failed.items()):
                    key = (each.engine, name, exception)
                    self.failed[key] = self.failed.get(key, 0) + count
        self.rows = totals
        self.durations = {labels: row[_DURATION : _DURATION_SUM + 1] for labels, row in totals.items()}
        self.waits = {labels: row[_WAIT : _WAIT_SUM + 1] for labels, row in totals.items() if any(row[_WAIT:_WAIT_SUM])}
        self.in_process = {each.engine for each in metrics if each.in_process}


def buckets(counts: list[float], bounds: tuple[float, ...]) -> list[tuple[str, float]]:
    cumulative, buckets = 0.0, []
    for bound, count in zip((*bounds, float("inf")), counts[:-1], strict=True):
        cumulative += count
        buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
    return buckets


def multiprocess_dir() -> str | None:
    """prometheus_client's multiprocess directory, when it is set."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
