"""``MemorySource``: the dashboard of one in-process engine, learnt from its hooks.

What the hooks hand over: the id and the task's name at enqueue (``before_enqueue``), the call
of each attempt (so its arguments once it starts), retries, and each outcome with its error. The rest comes from the
engine when it can tell:

- tasks that have not started: an engine's ``pending(limit)`` gives ``(task_id, call, run_at)``
  of what it can list (the thread engine: delayed tasks, retries waiting for their delay and
  tasks queued with a priority), so they show their name, arguments, state and due time.
  A task queued plainly shows its id and name, and its arguments once it starts, which is the
  next thing it does;
- periodic schedules: ``tasq.periodic``'s ticker of the engine (see ``schedules.py``);
- cancelling: the engine's ``cancel(task_id)``, when it supports it;
- other processes: this is one process's view (a store's source sees them all).

``retry`` uses the engine's ``retry(task_id)`` when it supports it and keeps the failed task;
otherwise it enqueues the failed task again (same task, same arguments, a new id), for the
failures it keeps.
"""

from __future__ import annotations

import heapq
import time
from bisect import bisect_left
from collections import deque
from typing import Any

from ..engine import TasQ
from ..task import Stats
from .describe import arguments, task_name, unwrap
from .recorder import Live, Recorder
from .records import Failure, NameSummary, Snapshot, TaskLine
from .schedules import schedules_of
from .source import EngineSource

__all__ = ["MemorySource"]

_RATE_WINDOW = 60.0  # seconds; rates are per minute over the last minute


class MemorySource(EngineSource):
    """The ``DashboardSource`` of one in-process engine (see the module's docstring).

    Made before the engine starts, it adds a ``Recorder`` to the engine's hooks. Made after,
    it shows the engine's counts and the ids of running tasks only, and says so.
    """

    scope = "this process"

    def __init__(self, engine: TasQ, *, keep: int = 10_000, failures: int = 100) -> None:
        super().__init__(engine)
        self.recorder: Recorder | None = Recorder(engine, keep=keep, failures=failures)
        try:
            engine.add_hooks(self.recorder)
        except RuntimeError:  # already started: hooks can no longer be added
            self.recorder = None
        # An engine without the capability has the method of the contract, which refuses.
        self._engine_cancel = _supported(engine, "cancel")
        self._engine_retry = _supported(engine, "retry")
        self._engine_pending = getattr(engine, "pending", None)

    @property
    def can_cancel(self) -> bool:
        return self._engine_cancel is not None

    @property
    def can_retry(self) -> bool:
        return self._engine_retry is not None or self.recorder is not None

    def cancel(self, task_id: int) -> bool:
        if self._engine_cancel is None:
            raise NotImplementedError(f"engine {self.name!r} cannot cancel a task")
        self._learn_call(task_id)
        return bool(self._engine_cancel(task_id))

    def _learn_call(self, task_id: int) -> None:
        """Before a cancel: the call of a task that never started, so that its failure card
        names it and shows its arguments."""
        recorder = self.recorder
        live = None if recorder is None else recorder.live.get(task_id)
        if live is None or live.task is not None or self._engine_pending is None:
            return
        for listed_id, call, _ in self._engine_pending(None):
            if listed_id == task_id:
                live.task = task = unwrap(call)
                live.name = task_name(task)
                return

    def retry(self, task_id: int) -> int:
        recorder = self.recorder
        task = None if recorder is None else recorder.failed_tasks.get(task_id)
        new_id: int | None = None
        if self._engine_retry is not None and self.engine().results:  # the engine keeps failed tasks
            try:
                new_id = int(self._engine_retry(task_id))
            except ValueError:
                if task is None:
                    raise
        if new_id is None:
            if task is None:
                raise ValueError(f"task {task_id} is not a failed task this dashboard keeps")
            new_id = self.engine().enqueue(task)
        if recorder is not None:
            recorder.retried[task_id] = new_id
        return new_id

    def snapshot(self, *, args: bool = True, limit: int = 50) -> Snapshot:
        engine = self.engine()
        stats = engine.stats()
        running_ids = engine.running_ids()
        recorder = self.recorder
        if recorder is None:
            return self._blind_snapshot(stats, running_ids, limit)
        live = dict(recorder.live)
        running = set(running_ids)
        now = time.time()
        # One pass over the live tasks, no sort of them all: a queue may hold a million.
        started = [task_id for task_id, record in live.items() if record.started_at is not None or task_id in running]
        started_ids = set(started)
        # What the engine can list first (delayed, retrying, prioritized: the tasks one may
        # want to cancel), then the lowest ids of the rest.
        listed = self._listed(limit, started_ids)
        queued = heapq.nsmallest(
            limit - len(listed), (task_id for task_id in live if task_id not in started_ids and task_id not in listed)
        )
        running_lines = [_line(task_id, live[task_id], True, args) for task_id in sorted(started)[:limit]]
        waiting_lines = sorted(
            [_listed_line(task_id, live.get(task_id), call, run_at, args) for task_id, (call, run_at) in listed.items()]
            + [_line(task_id, live[task_id], False, args) for task_id in queued],
            key=_by_id,
        )
        failures = list(recorder.failures)[::-1][:limit]
        retried = recorder.retried
        return Snapshot(
            engine=self.name,
            scope=self.scope,
            taken_at=now,
            stats=stats,
            names=_summaries(dict(recorder.by_name), dict(recorder.totals), now),
            running=tuple(running_lines),
            waiting=tuple(waiting_lines),
            periodic=schedules_of(engine),
            failures=tuple(_shown(failure, args, retried.get(failure.task_id)) for failure in failures),
            can_cancel=self.can_cancel,
            can_retry=self.can_retry,
            blind=self._blind(),
        )

    def _listed(self, limit: int, started: set[int]) -> dict[int, tuple[object, float | None]]:
        """The engine's own listing of tasks not started, by id: (call, run_at)."""
        if self._engine_pending is None or limit <= 0:
            return {}
        return {
            task_id: (call, run_at)
            for task_id, call, run_at in self._engine_pending(limit)
            if task_id not in started  # drawn by a worker since the hooks said so
        }

    def _blind(self) -> tuple[str, ...]:
        blind: list[str] = []
        if self._engine_pending is None:
            blind.append("arguments and due times of tasks that have not started yet")
        else:
            blind.append("arguments of tasks queued to run next, until they start")
        blind.append("tasks of other processes")
        if not self.can_cancel:
            blind.append("cancel: the engine has no cancel(task_id)")
        return tuple(blind)

    def _blind_snapshot(self, stats: Stats, running_ids: list[int], limit: int) -> Snapshot:
        lines = tuple(
            TaskLine(
                task_id=task_id,
                name=None,
                state="running",
                attempt=1,
                enqueued_at=None,
                started_at=None,
                run_at=None,
                args=None,
            )
            for task_id in running_ids[:limit]
        )
        return Snapshot(
            engine=self.name,
            scope=self.scope,
            taken_at=time.time(),
            stats=stats,
            names=(),
            running=lines,
            waiting=(),
            periodic=schedules_of(self.engine()),
            failures=(),
            can_cancel=self.can_cancel,
            can_retry=False,
            blind=("the dashboard was set up after the engine started: counts and running ids only",),
        )


def _supported(engine: TasQ, method: str) -> Any:
    flag = getattr(type(engine), f"supports_{method}", None)
    if flag is False:
        return None
    return getattr(engine, method, None)


def _by_id(line: TaskLine) -> int:
    return line.task_id


def _listed_line(task_id: int, live: Live | None, call: object, run_at: float | None, args: bool) -> TaskLine:
    attempt = 1 if live is None else live.attempt
    task = unwrap(call)  # type: ignore[arg-type]
    state: Any = "retrying" if attempt > 1 else "delayed" if run_at is not None else "pending"
    return TaskLine(
        task_id=task_id,
        name=task_name(task),
        state=state,
        attempt=attempt,
        enqueued_at=None if live is None else live.enqueued_at,
        started_at=None,
        run_at=run_at,
        args=arguments(task) if args else None,
    )


def _line(task_id: int, live: Live, running: bool, args: bool) -> TaskLine:
    started = live.started_at
    if running or started is not None:
        state: Any = "running"
    elif live.attempt > 1:
        state = "retrying"
    else:
        state = "pending"
    task = live.task
    return TaskLine(
        task_id=task_id,
        name=live.name,
        state=state,
        attempt=live.attempt,
        enqueued_at=live.enqueued_at,
        started_at=started if state == "running" else None,
        run_at=live.run_at,
        args=arguments(task) if args and task is not None else None,
    )


def _shown(failure: Failure, args: bool, retried_as: int | None) -> Failure:
    if (args or failure.args is None) and retried_as is None:
        return failure
    return Failure(
        task_id=failure.task_id,
        name=failure.name,
        error=failure.error,
        traceback=failure.traceback,
        attempts=failure.attempts,
        finished_at=failure.finished_at,
        cancelled=failure.cancelled,
        args=failure.args if args else None,
        retried_as=retried_as,
    )


def _summaries(
    by_name: dict[str, tuple[deque[float], deque[float]]], totals: dict[str, list[int]], now: float
) -> tuple[NameSummary, ...]:
    since = now - _RATE_WINDOW
    summaries = []
    for name in sorted(totals):
        done, failed = totals[name]
        times, durations = by_name.get(name, ((), ()))
        ordered = sorted(durations)
        # Appended as they finish: the last minute is a suffix.
        recent = list(times)
        in_window = len(recent) - bisect_left(recent, since)
        summaries.append(
            NameSummary(
                name=name,
                done=done,
                failed=failed,
                rate=in_window * 60.0 / _RATE_WINDOW,
                p50=quantile(ordered, 0.5),
                p95=quantile(ordered, 0.95),
            )
        )
    return tuple(summaries)


def quantile(ordered: list[float] | None, q: float) -> float | None:
    """The ``q`` quantile of sorted values, interpolated between the two nearest."""
    if not ordered:
        return None
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
