"""How a broker engine accepts a task: checked, numbered, sent, or run inline when eager.

``_accept`` is the one path every ``enqueue`` of a ``BrokerEngine`` takes (``enqueue``,
``submit``, ``@background``'s ``enqueue``, ``enqueue_many`` and ``retry``): the call is
checked first (a JSON round trip, the schedule), then the ledger gives it an id, the
``before_enqueue`` hooks add their headers, and the backend's ``_send`` hands the message to
the broker. A broker that refuses it leaves nothing behind: the id is discarded from the
ledger and the error raised. ``eager`` runs the task here instead, through JSON as a worker
would receive it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..checks import check_seconds
from ..exceptions import TasQClosed
from ..hooks import checked_headers
from ..payload import attempt_policy, checked_call
from ..task import TaskOptions
from .execution import call_hook
from .ledger import Ledger
from .payload import TaskMessage

if TYPE_CHECKING:
    from .base import BrokerEngine

__all__ = ["BrokerAccepting"]

logger = logging.getLogger("tasq")


class BrokerAccepting:
    """The accept path of ``BrokerEngine``: ``_accept`` and the message it sends."""

    __slots__ = ()

    def _accept(  # type: ignore[misc]
        self: BrokerEngine,
        fn: Callable[..., object],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        options: TaskOptions,
        delay: float | timedelta | datetime | None,
        priority: int | None,
        timeout: float | None,
    ) -> int:
        if self._closed:
            raise TasQClosed(f"engine {self.name!r} is closed")
        name, seconds, priority = checked_call(fn, args, kwargs, options, delay, priority)
        if timeout is not None:
            check_seconds("timeout", timeout)  # the broker never blocks a producer: nothing to bound
        if self._eager:
            return self._run_inline(name, fn, args, kwargs, options)
        if not self._is_started and self.autostart:
            self.start()
        elif self.local_worker and self._is_started and not self._workers_running:
            self.start()  # it was started while eager
        ledger = self._connected()
        task_id = ledger.accept(self.name, self._producer)
        message = self._message(task_id, name, list(args), kwargs, options, self._headers(task_id, name))
        if self.local_worker and seconds > 0:
            self.executor.not_before[message.id] = time.monotonic() + seconds
        try:
            self._send(message, fn, options, seconds, priority)
        except BaseException:
            self._forget(ledger, message)
            raise
        with self._guard:
            self._accepted_count += 1
        for hook in self.executor.hooks.after_enqueue:
            call_hook(hook, message.id)
        if self.closed and self.local_worker and not self._workers_running:
            self._cancel_left()  # it raced close(): no worker here will run it
        return message.id

    def _headers(self: BrokerEngine, task_id: int, name: str) -> dict[str, str]:  # type: ignore[misc]
        """What the before_enqueue hooks add to the message: nothing without such hooks."""
        headers: dict[str, str] = {}
        for hook in self.executor.hooks.before_enqueue:
            call_hook(hook, task_id, name, headers)
        return checked_headers(task_id, headers) if headers else headers

    def _message(  # type: ignore[misc]
        self: BrokerEngine,
        task_id: int,
        name: str,
        args: list[Any],
        kwargs: dict[str, Any],
        options: TaskOptions,
        headers: dict[str, str] | None = None,
    ) -> TaskMessage:
        max_retry, retry_delay = attempt_policy(self, options)
        return TaskMessage(
            id=task_id,
            name=name,
            args=args,
            kwargs=kwargs,
            engine=self.name,
            max_retry=max_retry,
            retry_delay=retry_delay,
            results=self.results,
            producer=self._producer,
            headers={} if headers is None else headers,
        )

    def _forget(self: BrokerEngine, ledger: Ledger, message: TaskMessage) -> None:  # type: ignore[misc]
        self.executor.not_before.pop(message.id, None)
        try:
            ledger.discard(message)
        except Exception:
            logger.exception(
                "could not forget task %d after the broker refused it", message.id, extra={"task_id": message.id}
            )

    def _run_inline(  # type: ignore[misc]
        self: BrokerEngine,
        name: str,
        fn: Callable[..., object],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        options: TaskOptions,
    ) -> int:
        # Through JSON, as a worker would receive them: a test sees what production will.
        sent_args, sent_kwargs = json.loads(json.dumps([list(args), kwargs]))
        ledger = self._local
        task_id = ledger.accept(self.name, self._producer)
        message = self._message(task_id, name, sent_args, sent_kwargs, options, self._headers(task_id, name))
        with self._guard:
            self._accepted_count += 1
        for hook in self.executor.hooks.after_enqueue:
            call_hook(hook, message.id)
        self.executor.run_here(ledger, message, fn, options, propagate=self._eager_propagate)
        return message.id
