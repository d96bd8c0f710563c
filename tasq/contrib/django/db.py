"""Database connection hygiene in worker threads, and enqueueing once a transaction commits."""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db import close_old_connections, connections, transaction
from django.db.backends.signals import connection_created

__all__ = ["after_coroutine", "after_task", "before_task", "close_thread_connections", "on_commit"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# .opened: this thread made a database connection that may still be open. A thread whose
# tasks never touch the database has nothing to check, and checking costs ~1 us per alias.
_thread = threading.local()


def _connection_made(**kwargs: Any) -> None:
    _thread.opened = True  # connection_created is sent in the thread that connected


connection_created.connect(_connection_made, dispatch_uid="tasq.contrib.django.db")


def before_task() -> None:
    """What Django does when a request starts: drop connections that are broken or too old."""
    if getattr(_thread, "opened", False):
        close_old_connections()


def after_task(task_id: int) -> None:
    """What Django does when a request finishes, and one thing more.

    A worker thread outlives many tasks, so a task that left a transaction open (an
    ``atomic()`` block never exited, a raw ``BEGIN``) must not hand it to the next one: that
    connection is closed, so the server rolls the transaction back, and forgotten; the next
    task on this thread gets a new one.
    """
    if not getattr(_thread, "opened", False):
        return
    still_open = False
    for connection in connections.all(initialized_only=True):
        if connection.in_atomic_block or _in_transaction(connection.connection):
            logger.error(
                "task %d left a transaction open on database %r: rolled back and closed",
                task_id,
                connection.alias,
                extra={"task_id": task_id},
            )
            connection.close()
            del connections[connection.alias]
        else:
            connection.close_if_unusable_or_obsolete()
            still_open = still_open or connection.connection is not None
    _thread.opened = still_open


def _in_transaction(raw: object) -> bool:
    """Whether the driver's connection is inside a transaction: Django does not always know."""
    if raw is None:
        return False
    status = getattr(getattr(raw, "info", None), "transaction_status", None)  # psycopg 3
    if status is None and hasattr(raw, "get_transaction_status"):  # psycopg 2
        status = raw.get_transaction_status()
    if status is not None:
        return int(status) != 0  # 0: idle, outside any transaction
    return bool(getattr(raw, "in_transaction", False))  # sqlite3


async def after_coroutine(coro: Awaitable[T]) -> T:
    """An ``async def`` task reaches the ORM through ``sync_to_async``, in asgiref's thread."""
    try:
        return await coro
    finally:
        await sync_to_async(close_old_connections)()


def close_thread_connections() -> None:
    """A worker thread is exiting: nobody else can close the connections it opened."""
    connections.close_all()


def on_commit(enqueue: Callable[[], object], using: str | None) -> None:
    """Call ``enqueue`` once the transaction open on database ``using`` commits (now if none)."""
    if using is not None and not isinstance(using, str):
        raise TypeError(f"using must be a database alias (a str) or None, not {type(using).__name__}")
    transaction.on_commit(enqueue, using=using)
