"""Task control on the thread engine: ``cancel``, ``retry`` and ``enqueue_many``.

``cancel`` finds a task where a task that has not started waits, and takes it out so that
no worker can draw it; taking it is the claim the worker races for:

- the scheduler's heap (delayed, or waiting for a retry after a delay): removed under the
  scheduler's lock, which the timer also holds while it hands a due entry on, so an entry
  is always in one place or the other;
- the priority heap: replaced there by a token under the engine's lock (the worker that
  draws it draws again, as after a swap);
- the ready queue: drained and put back in order, without the entry. A ``SimpleQueue`` get
  is atomic: the entry is either the canceller's or a worker's, never both.

A task in none of them is running (a worker drew it), finished, or unknown: False. The
worker loops do nothing for cancel, so the hot path stays as it is; the cost is the
canceller's, O(tasks pending). A task enqueued by another thread during a ``cancel`` of a
task in the ready queue may be drawn before tasks enqueued before it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from queue import Empty
from typing import TYPE_CHECKING, Any

from ..checks import check_schedule, check_task_id
from ..exceptions import QueueFull, TaskCancelled, TasQClosed
from ..task import TaskOptions
from .accept import accept, after_late_put, limit, resolve, start_and_accept
from .backpressure import take_space, wait_for_room
from .eager import run_eagerly
from .entry import TOKEN, Call, Entry
from .interrupts import signals_held
from .outcomes import report_failed
from .time_limit import Limited

if TYPE_CHECKING:
    from .engine import ThreadEngine

__all__ = ["Control"]


class Control:
    """The thread engine's ``cancel``, ``retry`` and ``enqueue_many``."""

    __slots__ = ()

    def cancel(self: ThreadEngine, task_id: int) -> bool:  # type: ignore[misc]
        check_task_id(task_id)
        if task_id < self._first_id or task_id >= _next_id(self) or self._abandoning:
            return False
        if task_id in self._slots or task_id in self._detached:
            return False  # running
        with signals_held():  # taken out and reported, or neither
            entry = self._scheduler.withdraw(lambda entry: entry[0] == task_id, lambda: _take_due(self, task_id))
            if entry is None:
                return False
            report_failed(self, entry, TaskCancelled(f"task {task_id} was cancelled"), None)
        if self._closed:
            after_late_put(self)  # what was put back may sit behind the workers' stop signals
        return True

    def retry(self: ThreadEngine, task_id: int) -> int:  # type: ignore[misc]
        check_task_id(task_id)
        if self._results is None:
            raise ValueError(f"retry({task_id}): the engine keeps no results; make it with TasQ(results=N)")
        kept = self._results.failed_entry(task_id)
        if isinstance(kept, str):
            raise ValueError(f"retry({task_id}): {kept}")
        _, call, state = kept
        options = None if state is None else state.options
        priority = None if state is None or not state.priority else state.priority
        if isinstance(call, Limited):
            call = call.call  # the limit is applied again as the task is accepted
        return accept(self, call, options, None, priority, None)

    def enqueue_many(  # type: ignore[misc]
        self: ThreadEngine,
        tasks: Iterable[object],
        *,
        delay: float | timedelta | datetime | None = None,
        priority: int | None = None,
    ) -> list[int]:
        if isinstance(tasks, (str, bytes)) or not isinstance(tasks, Iterable):
            raise TypeError(f"enqueue_many needs an iterable of tasks, not {type(tasks).__name__}")
        if self._closed:
            raise TasQClosed(f"engine {self.name!r} is closed")
        checked: list[tuple[Call, TaskOptions | None, float, int]] = []
        for index, task in enumerate(list(tasks)):
            try:
                call, options = resolve(task)
                seconds, chosen = check_schedule(delay, priority, options)
            except (TypeError, ValueError) as error:
                raise type(error)(f"tasks[{index}]: {error}") from None
            checked.append((limit(self, call, options), options, seconds, chosen))
        if not checked:
            return []
        if self._eager:
            return [run_eagerly(self, call, options, chosen) for call, options, _, chosen in checked]
        count = len(checked)
        if self.queue_size and count > self.queue_size:
            raise QueueFull(f"engine {self.name!r}: {count} tasks do not fit in queue_size={self.queue_size}")
        while True:
            with signals_held():  # every slot taken and every task accepted, or none
                if not self.queue_size or take_space(self, count):
                    return [
                        start_and_accept(self, call, options, seconds, chosen, bool(self.queue_size))
                        for call, options, seconds, chosen in checked
                    ]
            if self.on_full != "block":
                free = self.queue_size - self._queued
                raise QueueFull(f"engine {self.name!r}: {free} free slot(s), {count} asked")
            wait_for_room(self, None, None, count)


def _next_id(engine: ThreadEngine) -> int:
    # itertools.count shows its next value in its repr, "count(N)", without taking it.
    return int(repr(engine._ids)[6:-1])


def _take_due(engine: ThreadEngine, task_id: int) -> Entry | None:
    """The entry of ``task_id`` out of the priority heap or the ready queue, if it is there."""
    with engine._lock:
        heap = engine._heap
        for index, (rank, queued_id, entry) in enumerate(heap):
            if queued_id == task_id and entry is not TOKEN:
                # A token stays in its place: the worker that draws it draws again, and the
                # heap keeps as many items as the ready queue holds tokens.
                heap[index] = (rank, queued_id, TOKEN)
                return entry
        ready = engine._ready
        drawn: list[Any] = []
        found: Entry | None = None
        while True:
            try:
                item = ready.get_nowait()
            except Empty:
                break
            if found is None and item is not None and item is not TOKEN and item[0] == task_id:
                found = item
            else:
                drawn.append(item)
        for item in drawn:
            ready.put(item)
        return found
