"""``Recorder``: the hooks that keep what a dashboard of one in-process engine shows."""

from __future__ import annotations

import os
import time
import traceback
import weakref
from collections import deque
from collections.abc import Callable
from typing import TypeVar

from ..engine import TasQ
from ..exceptions import RetryTask, TaskCancelled
from ..hooks import Hooks
from .describe import arguments, task_name, unwrap
from .records import Failure

__all__ = ["Live", "Recorder"]

T = TypeVar("T")


class Live:
    """A task between enqueue and outcome; only the hooks of that task write it."""

    __slots__ = ("attempt", "enqueued_at", "name", "run_at", "started_at", "task")

    def __init__(self, enqueued_at: float | None, name: str | None = None) -> None:
        self.enqueued_at = enqueued_at
        self.started_at: float | None = None
        self.run_at: float | None = None
        self.attempt = 1
        self.task: object = None
        self.name = name  # the engine's name for it at enqueue; the task's own once it starts


class Recorder(Hooks):
    """Hooks that keep what a dashboard shows: live tasks, finished ones, recent failures.

    ``keep`` finished tasks feed the per-name figures (rate, p50, p95); ``failures`` recent
    failures are kept with their error and traceback as text (never the exception, so no
    frame stays alive). Each hook does a few dict and deque operations, lock-free: they are
    atomic, and a snapshot copies before it reads.
    """

    def __init__(self, engine: TasQ, *, keep: int = 10_000, failures: int = 100) -> None:
        self.retry_delay = engine.retry_delay
        self.live: dict[int, Live] = {}
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

    def before_enqueue(self, task_id: int, name: str, headers: dict[str, str]) -> None:
        # The one enqueue hook: the engine hands over the name it has already made, so a task
        # queued plainly shows it before it starts. Nothing fails between this hook and the
        # engine taking the task (a task refused later is reported failed, which pops it).
        self.live[task_id] = Live(time.time(), name)

    def around_task(self, task_id: int, call: Callable[[], T]) -> T:
        live = self.live.get(task_id)
        if live is None:  # enqueued before this recorder existed
            live = self.live[task_id] = Live(None)
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

    def _finished(self, task_id: int, live: Live | None, succeeded: bool) -> str | None:
        if live is None:
            return None  # from before the recorder
        if live.task is None or live.name is None:
            return live.name  # never started (cancelled while pending): named, not counted
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
