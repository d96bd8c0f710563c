"""kombu's Redis transport, with a TasQ task's ledger record pushed in its message's round trip.

``CeleryEngine`` sends each task with Celery's ``send_task``; on Redis, kombu's channel ends
that in one ``LPUSH``. This channel does the same push inside the ledger's record script
(``BlockLedger.record_and_push``) when the thread that publishes is sending a TasQ task
(``carrying``), so ``enqueue`` costs one round trip, as a bare ``apply_async`` does. Any
other publish — Celery's own retries, control messages, a channel kombu would push another
way — goes through kombu's code unchanged; a TasQ task among them has its record written
first. The worker consumes through the same transport: consuming is kombu's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from kombu.transport import redis
from kombu.utils.json import dumps as _dumps

from .block_ledger import BlockLedger
from .payload import TaskMessage
from .redis_url import for_kombu

__all__ = ["Channel", "SocketTransport", "Transport", "carrying", "socket_broker_url"]

dumps: Any = _dumps  # kombu's own JSON, as its push writes the message

# (ledger, message) while this thread publishes a TasQ task whose record is not written yet.
_carried: ContextVar[list[Any] | None] = ContextVar("tasq_carried", default=None)


@contextmanager
def carrying(ledger: BlockLedger, message: TaskMessage) -> Iterator[list[Any]]:
    """While Celery publishes ``message``: its record goes with the push. Yields
    ``[ledger, message]``, emptied once the record is written; whoever finds it full after
    the publish writes it."""
    carried = [ledger, message]
    token = _carried.set(carried)
    try:
        yield carried
    finally:
        _carried.reset(token)


class Channel(redis.Channel):
    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        carried = _carried.get()
        if not carried:
            super()._put(queue, message, **kwargs)  # type: ignore[no-untyped-call]
            return
        ledger, task = carried
        plain = self.global_keyprefix or kwargs.get("_publish_batch") is not None or queue in (self._expires or {})
        if plain:  # kombu pushes these its own way: the record first, then its push
            ledger.record(task)
            carried.clear()
            super()._put(queue, message, **kwargs)  # type: ignore[no-untyped-call]
            return
        channel: Any = self  # kombu's methods carry no type hints
        key = channel._q_for_pri(queue, channel._get_message_priority(message, reverse=False))
        with self.conn_or_acquire() as client:
            # Cleared once done: a publish kombu retries (a lost connection) runs it again,
            # and the script pushes nothing twice.
            ledger.record_and_push(task, client, key, dumps(message))
        carried.clear()


class Transport(redis.Transport):
    Channel = Channel


class SocketTransport(Transport):
    """Over a Unix socket: kombu reads ``socket:///path`` itself (its ``redis+socket://``
    would pick kombu's own transport by the URL's prefix)."""

    can_parse_url = True


def socket_broker_url(url: str) -> str:
    """``unix:///path?db=N`` or ``redis+socket:///path?virtual_host=N`` as SocketTransport reads it."""
    return "socket" + for_kombu(url).removeprefix("redis+socket")
