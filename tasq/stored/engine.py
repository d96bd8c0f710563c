"""``TasQ(store="sqlite:///PATH")``: the in-process engine whose tasks live in a journal.

Every accepted task is a committed row before ``enqueue`` returns; this process's workers run
the rows it claims (``runner.py``), through the same executor as the broker engines' workers
(hooks, time limits, retries, exactly one reported outcome); ``result``, ``stats``, ``cancel``
and ``retry`` read and write the journal, so they answer from any process that shares it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, ParamSpec

from .. import lifecycle
from ..backends.execution import Executor, call_hook
from ..backends.ledger import LocalLedger
from ..backends.payload import TaskMessage
from ..checks import check_seconds, remaining
from ..control import check_each
from ..exceptions import TaskCancelled, TasQClosed
from ..hooks import checked_headers, given_up
from ..options import EngineOptions
from ..store import Journal
from ..store.writes import ENQUEUED_AT, MAX_RETRY, NAME, RUN_AT, claimed, retry_delay_of
from ..task import TaskOptions
from .accepting import Accepted, accepted, accepted_call, accepted_submit, claimed_run
from .control import StoreControl
from .looking import StoreLooking
from .lookup import Lookup
from .runner import Runner

__all__ = ["StoreEngine"]

logger = logging.getLogger("tasq")

P = ParamSpec("P")

_NEW, _STARTED, _CLOSED = range(3)
_LOOK_AT = 10_000  # outstanding ids kept before the store is asked which of them ended


class StoreEngine(StoreControl, StoreLooking):
    """``TasQ`` with ``store=``: worker threads in this process over a durable journal."""

    # Of the capabilities TasQ declares: all but any callable and a bounded queue.
    runs_tasks_in_process = True
    supports_cancel = True
    supports_retry = True
    supports_time_limit = True

    __slots__ = (
        "_changed",
        "_guard",
        "_local",
        "_look_at",
        "_outstanding",
        "_runner",
        "_shut_down",
        "_state",
        "executor",
        "journal",
        "lookup",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assert self.store is not None  # refused_options refused an engine without one
        self.journal = Journal(self.store, sync=self.store_sync)
        self.lookup = Lookup()
        self.executor = Executor(self)
        self._reset_runtime()
        lifecycle.track(self)

    @classmethod
    def refused_options(cls, options: EngineOptions) -> list[tuple[str, Exception]]:
        refused: list[tuple[str, Exception]] = []
        if options.store is None:
            refused.append(("store", ValueError("the store engine needs store='sqlite:///PATH'")))
        if options.backend != "thread":
            error = ValueError(f"a store keeps the in-process engine's tasks, not backend {options.backend!r}'s")
            refused.append(("backend", error))
        if options.broker_url is not None:
            refused.append(("broker_url", ValueError("broker_url is for a distributed backend, not a store")))
        if options.queue_size:
            error = ValueError("with a store, pending tasks wait in its file, not in memory: leave queue_size at 0")
            refused.append(("queue_size", error))
        return refused

    def _reset_runtime(self) -> None:
        """What belongs to one process: made anew in a forked child."""
        self._guard = threading.Lock()
        self._changed = threading.Condition(threading.Lock())
        self._state = _NEW
        self._shut_down = False
        self._runner: Runner | None = None
        self._outstanding: set[int] = set()  # ids accepted here and not yet seen finished
        self._look_at = _LOOK_AT  # how many of them before the finished ones are looked up
        self._local = LocalLedger(self.results)  # eager mode's

    def _hooks_changed(self) -> None:
        self.executor.set_hooks(list(self._hooks))

    @property
    def started(self) -> bool:
        return self._state == _STARTED

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Open the store (``StoreError`` if it cannot be) and start the workers."""
        with self._guard:
            if self._state == _CLOSED or self._closed:
                raise TasQClosed(f"engine {self.name!r} is closed")
            if self._state == _STARTED:
                return
            self.journal.open()
            if not self._eager:
                runner = Runner(self)
                runner.start()
                self._runner = runner
            self._state = _STARTED
        logger.debug("engine %r started on %s", self.name, self.store, extra={"task_id": None, "engine": self.name})
        lifecycle.engine_started(self)

    def close(self, wait: bool = True, timeout: float | None = None, cancel_pending: bool = False) -> list[int]:
        """Stop accepting tasks and wait for the running ones (up to ``timeout``).

        Without a timeout, what is due runs first. With one, only the tasks running here are
        waited for: the pending ones stay in the store, for another process or the next
        start, and so does what is not due yet (a delay, a retry's wait). ``cancel_pending`` cancels every
        task of this engine in the store that has not started (whichever process stored it),
        each reported here once. Returns the ids still running here on return.
        """
        if timeout is not None:
            timeout = check_seconds("timeout", timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._guard:
            first = not self._closed
            self._closed = True
            self._state = _CLOSED
            runner = self._runner
        if first:
            lifecycle.engine_closing(self)
        if cancel_pending:
            if runner is not None:
                runner.stop()
            if self.journal.opened:
                self._cancel_pending()
        if runner is None:
            self.journal.close()  # its next use (result, stats) opens it again
            lifecycle.forget(self)
            return []
        if runner.is_worker():
            wait = False  # a task that closes its own engine cannot wait for itself
        if not wait:
            runner.stop()
            return runner.running_ids()
        if deadline is None:  # no bound: what is due now runs first
            runner.drain(time.time())
            runner.wait_drained(None)
        runner.stop()
        runner.wait_stopped(remaining(deadline))
        still_running = runner.running_ids()
        if still_running:
            logger.warning(
                "engine %r closed with %d task(s) still running: %s",
                self.name,
                len(still_running),
                ", ".join(map(str, still_running[:20])),
                extra={"task_id": None, "task_ids": still_running, "engine": self.name},
            )
        else:
            self.executor.stop_watchdog()  # no worker left here to hold to a time limit
            self.journal.close()
            lifecycle.forget(self)
        return still_running

    def _cancel_pending(self) -> None:
        for task_id in self.journal.cancel_pending(self.name):
            self._report_cancelled(task_id, TaskCancelled(f"engine {self.name!r} closed before it ran"))

    def shutdown(self, reason: str = "the app shut down", *, timeout: float | None = None) -> None:
        """Close for good within ``timeout`` (default ``shutdown_timeout``). A task still
        running then is not reported: its row stays running, and once this process is gone
        and its lease lapses another process runs it again. Again does nothing."""
        with self._guard:
            if self._shut_down:
                return
            self._shut_down = True
        try:
            self.close(timeout=self.shutdown_timeout if timeout is None else timeout)
        finally:
            runner = self._runner
            if runner is not None:
                runner.stop()
                still = runner.running_ids()
                if still:
                    logger.warning(
                        "engine %r: %d task(s) still running as %s; their rows run again elsewhere "
                        "once this process is gone and their lease lapses",
                        self.name,
                        len(still),
                        given_up(reason),
                        extra={"task_id": None, "task_ids": still, "engine": self.name},
                    )
            self.executor.stop_watchdog()
            lifecycle.forget(self)

    def _after_fork_in_child(self) -> None:
        """A forked child starts with no threads and no connection; the store is shared."""
        was_started = self._state == _STARTED and not self._closed
        self._reset_runtime()
        self.executor = self.executor.fresh()
        if was_started:
            self.autostart = True  # the child's workers start with its first task

    # -- enqueueing -----------------------------------------------------------------------

    def enqueue(
        self,
        task: object,
        *,
        delay: float | timedelta | datetime | None = None,
        priority: int | None = None,
        timeout: float | None = None,
    ) -> int:
        """Store a ``@background`` call (``fn.task(*args)``); return its id once committed."""
        if timeout is not None:
            check_seconds("timeout", timeout)  # a store never blocks a producer: nothing to bound
        return self._accept(accepted_call(self, task, delay, priority))

    def _enqueue_call(
        self, fn: Callable[..., object], args: tuple[Any, ...], kwargs: dict[str, Any], options: TaskOptions
    ) -> int:
        return self._accept(accepted(self, fn, args, kwargs, options, None, None))

    def submit(self, fn: Callable[P, object], /, *args: P.args, **kwargs: P.kwargs) -> int:
        """``enqueue`` for a ``@background`` or module-level function and its JSON arguments."""
        return self._accept(accepted_submit(self, fn, args, kwargs))

    async def aenqueue(
        self,
        task: object,
        *,
        delay: float | timedelta | datetime | None = None,
        priority: int | None = None,
        timeout: float | None = None,
    ) -> int:
        """``enqueue`` for async code; the commit is a few microseconds to a millisecond."""
        return self.enqueue(task, delay=delay, priority=priority, timeout=timeout)

    def enqueue_many(
        self,
        tasks: Iterable[object],
        *,
        delay: float | timedelta | datetime | None = None,
        priority: int | None = None,
    ) -> list[int]:
        """Store many tasks in one transaction: all of them (ids in order) or none."""
        checked = check_each(self, tasks, lambda task: accepted_call(self, task, delay, priority))
        if not checked:
            return []
        if self._eager:
            return [self._run_inline(item) for item in checked]
        self._autostart()
        rows = [item[0] for item in checked]
        ids = self.journal.insert_many(rows)
        remember, last = self.lookup.remember, None
        for row, fn, options, *_ in checked:
            if fn is not last:  # a batch is mostly of one function
                remember(row[NAME], fn, options)
                last = fn
        self._accepted(ids)
        runner = self._runner
        if runner is not None:
            runner.stored(min(row[RUN_AT] for row in rows))
        return ids

    def _check_open(self) -> None:
        if self._closed:
            raise TasQClosed(f"engine {self.name!r} is closed")

    def _autostart(self) -> None:
        if self._state == _NEW and self.autostart:
            self.start()

    def _accept(self, item: Accepted) -> int:
        self._check_open()
        if self._eager:
            return self._run_inline(item)
        self._autostart()
        row, fn, options, _, _, delayed = item
        runner = self._runner
        owner = runner.owner if runner is not None and not delayed and runner.reserve() else None
        stored = row if owner is None else claimed(row, owner, row[ENQUEUED_AT] + self.store_lease)
        try:
            (task_id,) = self.journal.insert([stored])
        except BaseException:
            if owner is not None and runner is not None:
                runner.unreserve()
            raise
        self.lookup.remember(row[NAME], fn, options)
        headers = self._headers(task_id, row[NAME])
        self._accepted([task_id])
        if runner is None:
            return task_id
        if owner is not None:
            runner.push(claimed_run(task_id, stored, headers), (fn, options))
        else:
            runner.stored(row[RUN_AT])
        return task_id

    def _headers(self, task_id: int, name: str) -> str:
        """What before_enqueue hooks add (a trace context), stored with the row."""
        hooks = self.executor.hooks.before_enqueue
        if not hooks:
            return "{}"
        headers: dict[str, str] = {}
        for hook in hooks:
            call_hook(hook, task_id, name, headers)
        if not headers:
            return "{}"
        headers = checked_headers(task_id, headers)
        self.journal.set_headers(task_id, headers)
        return json.dumps(headers)

    def _accepted(self, task_ids: list[int]) -> None:
        with self._changed:
            self._outstanding.update(task_ids)
            grown = len(self._outstanding) >= self._look_at
        if grown:
            self._forget_finished()
        hooks = self.executor.hooks.after_enqueue
        if hooks:
            for task_id in task_ids:
                for hook in hooks:
                    call_hook(hook, task_id)

    def _forget_finished(self) -> None:
        """Drop the ids other processes finished: a web process whose tasks all run elsewhere
        would otherwise keep one per task until it calls join()."""
        runner = self._runner
        here = set(runner.held_ids()) if runner is not None else set()
        with self._changed:
            waiting = [task_id for task_id in self._outstanding if task_id not in here]
        ended = self.journal.finished_among(waiting)
        with self._changed:
            self._outstanding.difference_update(ended)
            self._look_at = max(_LOOK_AT, 2 * len(self._outstanding))
            if not self._outstanding:
                self._changed.notify_all()

    def _reported(self, task_id: int) -> None:
        """This process reported ``task_id``'s outcome (for ``join``)."""
        with self._changed:
            self._outstanding.discard(task_id)
            if not self._outstanding:
                self._changed.notify_all()

    def _run_inline(self, item: Accepted) -> int:
        # Through JSON, as a worker reads the row: a test sees what production will.
        row, fn, options, given_args, given_kwargs, _ = item
        args, kwargs = json.loads(json.dumps([list(given_args), given_kwargs]))
        ledger = self._local
        task_id = ledger.accept(self.name, "eager")
        message = TaskMessage(
            id=task_id,
            name=row[NAME],
            args=args,
            kwargs=kwargs,
            engine=self.name,
            max_retry=row[MAX_RETRY],
            retry_delay=retry_delay_of(row),
            results=self.results,
            producer="eager",
        )
        for hook in self.executor.hooks.after_enqueue:
            call_hook(hook, task_id)
        self.executor.run_here(ledger, message, fn, options, propagate=self._eager_propagate)
        return task_id

    def __repr__(self) -> str:
        state = ("new", "started", "closed")[self._state]
        return f"<TasQ {self.name!r} {state} workers={self.workers} store={self.store!r}>"
