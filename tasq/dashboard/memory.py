"""``MemorySource``: the dashboard of one in-process engine, learnt from its hooks.

What the hooks hand over: the id at enqueue, the call of each attempt (so the task's name and
arguments once it starts), retries, and each outcome with its error. What they do not, and the
engine method that would close the gap:

- the name, arguments and due time of a task that has not started yet (``after_enqueue`` gets
  only the id): pending and delayed tasks show as ids, all "pending" — an engine method
  ``pending() -> list[(task_id, task, run_at)]``, or ``after_enqueue(task_id, task, run_at)``;
- periodic schedules — ``schedules() -> list[(name, schedule, next_run)]``;
- cancelling — ``cancel(task_id)``; when the engine has it, it is used;
- other processes: this is one process's view (a store's source sees them all).

``retry`` uses the engine's ``retry(task_id)`` when it has one; otherwise it enqueues the
failed task again (same task, same arguments, a new id), for the failures it keeps.
"""

from __future__ import annotations

import heapq
import os
import time
import traceback
import weakref
from bisect import bisect_left
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

from ..engine import TasQ
from ..exceptions import RetryTask, TaskCancelled
from ..hooks import Hooks
from ..task import Stats
from .describe import arguments, task_name, unwrap
from .records import Failure, NameSummary, Snapshot, TaskLine

__all__ = ["MemorySource", "Recorder"]

T = TypeVar("T")

_RATE_WINDOW = 60.0  # seconds; rates are per minute over the last minute


class _Live:
    """A task between enqueue and outcome; only the hooks of that task write it."""

    __slots__ = ("attempt", "enqueued_at", "name", "run_at", "started_at", "task")

    def __init__(self, enqueued_at: float | None) -> None:
        self.enqueued_at = enqueued_at
        self.started_at: float | None = None
        self.run_at: float | None = None
        self.attempt = 1
        self.task: object = None
        self.name: str | None = None


class Recorder(Hooks):
    """Hooks that keep what a dashboard shows: live tasks, finished ones, recent failures.

    ``keep`` finished tasks feed the per-name figures (rate, p50, p95); ``failures`` recent
    failures are kept with their error and traceback as text (never the exception, so no
    frame stays alive). Each hook does a few dict and deque operations, lock-free: they are
    atomic, and a snapshot copies before it reads.
    """

    def __init__(self, engine: TasQ, *, keep: int = 10_000, failures: int = 100) -> None:
        self.retry_delay = engine.retry_delay
        self.live: dict[int, _Live] = {}
        # The last `keep` finished tasks that ran: their names in the order they finished, and
        # per name their (finished_at, duration) side by side, so a snapshot reads each name
        # without going through every task.
        self.keep = keep
        self.finished: deque[str] = deque()
        self.by_name: dict[str, tuple[deque[float], deque[float]]] = {}
        self.totals: dict[str, list[int]] = {}  # name -> [done, failed] since the start
        self.failures: deque[Failure] = deque(maxlen=failures)
        self.failed_tasks: dict[int, object] = {}  # what retry enqueues again, for kept failures
        self.retried: dict[int, int] = {}  # failed id -> the id it was retried as
        _recorders.add(self)

    def after_enqueue(self, task_id: int) -> None:
        self.live[task_id] = _Live(time.time())

    def around_task(self, task_id: int, call: Callable[[], T]) -> T:
        live = self.live.get(task_id)
        if live is None:  # enqueued before this recorder existed
            live = self.live[task_id] = _Live(None)
        if live.task is None:
            live.task = task = unwrap(call)
            live.name = task_name(task)
        live.run_at = None
        live.started_at = time.time()
        return call()

    def after_retry(self, task_id: int, error: RetryTask) -> None:
        live = self.live.get(task_id)
        if live is None:
            return
        live.attempt += 1
        live.started_at = None
        delay = error.delay if error.delay is not None else self.retry_delay
        live.run_at = time.time() + delay if isinstance(delay, (int, float)) else None

    def after_done(self, task_id: int, return_value: object) -> None:
        self._finished(task_id, self.live.pop(task_id, None), True)

    def after_failed(self, task_id: int, error: BaseException) -> None:
        live = self.live.pop(task_id, None)
        name = self._finished(task_id, live, False)
        cancelled = isinstance(error, TaskCancelled)
        failure = Failure(
            task_id=task_id,
            name=name,
            error=f"{type(error).__name__}: {error}" if str(error) else type(error).__name__,
            traceback="" if cancelled else _traceback(error),
            attempts=live.attempt if live is not None else 1,
            finished_at=time.time(),
            cancelled=cancelled,
            args=arguments(live.task) if live is not None and live.task is not None else None,
        )
        failures = self.failures
        if len(failures) == failures.maxlen:
            self.failed_tasks.pop(failures[0].task_id, None)
            self.retried.pop(failures[0].task_id, None)
        failures.append(failure)
        if live is not None and live.task is not None:
            self.failed_tasks[task_id] = live.task

    def _finished(self, task_id: int, live: _Live | None, succeeded: bool) -> str | None:
        if live is None or live.name is None:
            return None  # never started (cancelled while pending), or from before the recorder
        now = time.time()
        started = live.started_at
        if started is not None:  # None: cancelled while it waited for a retry
            self._keep(live.name, now, now - started)
        totals = self.totals.get(live.name)
        if totals is None:
            totals = self.totals.setdefault(live.name, [0, 0])
        totals[0 if succeeded else 1] += 1
        return live.name

    def _keep(self, name: str, now: float, duration: float) -> None:
        kept = self.by_name.get(name)
        if kept is None:
            kept = self.by_name.setdefault(name, (deque(), deque()))
        kept[0].append(now)
        kept[1].append(duration)
        # Appended after the name's own entry: whoever drops this name finds one to drop.
        order = self.finished
        order.append(name)
        if len(order) > self.keep:
            try:
                oldest = self.by_name[order.popleft()]
                oldest[0].popleft()
                oldest[1].popleft()
            except IndexError:  # another worker dropped the oldest first
                pass

    def forget(self) -> None:
        """After fork(): the child's engine starts empty, and so does its recorder."""
        self.live.clear()
        self.finished.clear()
        self.by_name.clear()
        self.totals.clear()
        self.failures.clear()
        self.failed_tasks.clear()
        self.retried.clear()


class MemorySource:
    """The ``DashboardSource`` of one in-process engine (see the module's docstring).

    Made before the engine starts, it adds a ``Recorder`` to the engine's hooks. Made after,
    it shows the engine's counts and the ids of running tasks only, and says so.
    """

    scope = "this process"

    def __init__(self, engine: TasQ, *, keep: int = 10_000, failures: int = 100) -> None:
        self._engine = weakref.ref(engine)
        self.name = engine.name
        self.recorder: Recorder | None = Recorder(engine, keep=keep, failures=failures)
        try:
            engine.add_hooks(self.recorder)
        except RuntimeError:  # already started: hooks can no longer be added
            self.recorder = None
        self._engine_cancel = getattr(engine, "cancel", None)
        self._engine_retry = getattr(engine, "retry", None)

    @property
    def can_cancel(self) -> bool:
        return self._engine_cancel is not None

    @property
    def can_retry(self) -> bool:
        return self._engine_retry is not None or self.recorder is not None

    def engine(self) -> TasQ:
        engine = self._engine()
        if engine is None:
            raise RuntimeError(f"the engine {self.name!r} of this dashboard no longer exists")
        return engine

    def cancel(self, task_id: int) -> bool:
        if self._engine_cancel is None:
            raise NotImplementedError(f"engine {self.name!r} cannot cancel a task")
        return bool(self._engine_cancel(task_id))

    def retry(self, task_id: int) -> int:
        recorder = self.recorder
        if self._engine_retry is not None:
            new_id = int(self._engine_retry(task_id))
        else:
            task = None if recorder is None else recorder.failed_tasks.get(task_id)
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
        waiting_ids = heapq.nsmallest(limit, (task_id for task_id in live if task_id not in started_ids))
        running_lines = [_line(task_id, live[task_id], True, args) for task_id in sorted(started)[:limit]]
        waiting_lines = [_line(task_id, live[task_id], False, args) for task_id in waiting_ids]
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
            periodic=(),
            failures=tuple(_shown(failure, args, retried.get(failure.task_id)) for failure in failures),
            can_cancel=self.can_cancel,
            can_retry=self.can_retry,
            blind=_BLIND if self.can_cancel else (*_BLIND, "cancel: the engine has no cancel(task_id)"),
        )

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
            periodic=(),
            failures=(),
            can_cancel=self.can_cancel,
            can_retry=False,
            blind=("the dashboard was set up after the engine started: counts and running ids only",),
        )


_BLIND = (
    "names, arguments and due times of tasks that have not started yet",
    "periodic schedules",
    "tasks of other processes",
)


def _line(task_id: int, live: _Live, running: bool, args: bool) -> TaskLine:
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
                p50=_quantile(ordered, 0.5),
                p95=_quantile(ordered, 0.95),
            )
        )
    return tuple(summaries)


def _quantile(ordered: list[float] | None, q: float) -> float | None:
    """The ``q`` quantile of sorted values, interpolated between the two nearest."""
    if not ordered:
        return None
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


_TASQ_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _traceback(error: BaseException) -> str:
    """The traceback from the task's own code on: the engine's frames above it say nothing."""
    frames = error.__traceback__
    while frames is not None and frames.tb_next is not None:
        if not frames.tb_frame.f_code.co_filename.startswith(_TASQ_DIR):
            break
        frames = frames.tb_next
    return "".join(traceback.format_exception(type(error), error, frames))


_recorders: weakref.WeakSet[Recorder] = weakref.WeakSet()


def _forget_after_fork() -> None:
    for recorder in list(_recorders):
        recorder.forget()


os.register_at_fork(after_in_child=_forget_after_fork)
