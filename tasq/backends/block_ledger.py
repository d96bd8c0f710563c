"""The Redis ledger for a backend that sends through Redis itself: ids reserved in blocks,
each task's record written in the same round trip as its message.

``RedisLedger.accept`` costs a round trip per task (``INCR`` and the record, one script),
then the broker's publish costs another. Here ``accept`` takes the next id of a block this
process reserved with one ``INCRBY``, and the record (PENDING, counted outstanding for its
producer) is written by ``record_and_push``, one Lua script that also pushes the message on
its queue: the message never exists without its record, nor the record without its
message, and the publish is the one round trip. A backend whose publish cannot carry the
record writes it with ``record`` first (one round trip, as ``RedisLedger.accept``).

Ids stay unique per engine name across processes (a block is reserved atomically) and
increase within each process; between processes they are ordered only block by block. A
block starts at one id and doubles, up to ``MAX_BLOCK``, while the last one was used up
within a second, so a process that sends rarely reserves one id at a time and does not sit
on a range that makes its ids lag behind other processes'. Unused ids of a block are
skipped (a process that exits), as a discarded task's id is: nothing is lost.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from .ledger import RECORD_TTL
from .payload import TaskMessage
from .redis_ledger import RedisLedger, prefix

__all__ = ["MAX_BLOCK", "BlockLedger", "IdBlocks"]

MAX_BLOCK = 64
_QUICK = 1.0  # a block used up within this many seconds: the next one is twice as large

_RESERVE = "return redis.call('INCRBY', ARGV[1] .. ':ids', ARGV[2])"

# ARGV: prefix, id, enqueued_at, producer, ttl[, queue, payload]. A record with a status was
# written by this very script (ids are unique): a publish retried after a lost reply pushes
# nothing twice. Fields a before_enqueue hook wrote (the dashboard's task name) are kept.
_RECORD = """
local key = ARGV[1] .. ':task:' .. ARGV[2]
if redis.call('HEXISTS', key, 'status') == 1 then return 0 end
redis.call('HSET', key, 'status', 'PENDING', 'attempts', 0, 'enqueued_at', ARGV[3], 'producer', ARGV[4])
redis.call('EXPIRE', key, ARGV[5])
local outstanding = ARGV[1] .. ':outstanding:' .. ARGV[4]
redis.call('INCR', outstanding)
redis.call('EXPIRE', outstanding, ARGV[5])
if ARGV[6] then redis.call('LPUSH', ARGV[6], ARGV[7]) end
return 1
"""


# ARGV: prefix, id, producer. The broker refused the message: its record, if it was written
# (counted outstanding only then), and whatever a hook wrote beside it, are forgotten.
_DISCARD = """
local key = ARGV[1] .. ':task:' .. ARGV[2]
local recorded = redis.call('HEXISTS', key, 'status')
redis.call('DEL', key)
if recorded == 1 then redis.call('DECR', ARGV[1] .. ':outstanding:' .. ARGV[3]) end
return 1
"""


class IdBlocks:
    """Ids from one Redis counter, reserved a block at a time; thread-safe."""

    __slots__ = ("_end", "_lock", "_next", "_reserve", "_reserved_at", "_size")

    def __init__(self, reserve: Any) -> None:
        self._reserve = reserve  # size -> the last id of the block reserved
        self._lock = threading.Lock()
        self._next = 1
        self._end = 0  # the last id of the block in hand
        self._size = 0
        self._reserved_at = 0.0

    def take(self) -> int:
        with self._lock:
            if self._next > self._end:
                now = time.monotonic()
                quick = now - self._reserved_at < _QUICK
                size = min(MAX_BLOCK, self._size * 2) if quick and self._size else 1
                end = int(self._reserve(size))
                self._next, self._end, self._size, self._reserved_at = end - size + 1, end, size, now
            task_id = self._next
            self._next += 1
            return task_id


class BlockLedger(RedisLedger):
    """``RedisLedger`` whose ``accept`` only hands out an id: the backend's send records it."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self._reserve_script = client.register_script(_RESERVE)
        self._record_script = client.register_script(_RECORD)
        self._discard_script = client.register_script(_DISCARD)
        self._ids: dict[str, IdBlocks] = {}
        self._ids_lock = threading.Lock()

    def accept(self, engine: str, producer: str) -> int:
        blocks = self._ids.get(engine)
        if blocks is None:
            with self._ids_lock:
                blocks = self._ids.setdefault(engine, IdBlocks(self._reserver(prefix(engine))))
        return blocks.take()

    def discard(self, message: TaskMessage) -> None:
        self._discard_script(args=[prefix(message.engine), message.id, message.producer])

    def record(self, message: TaskMessage) -> None:
        """Record the task PENDING and outstanding: before its message is published."""
        self._record_script(args=self._record_args(message))

    def record_and_push(self, message: TaskMessage, client: Any, queue: str, payload: str) -> None:
        """Record the task and push ``payload`` on the list ``queue``: one script, through
        ``client`` (the broker's own connection, on the same Redis)."""
        self._record_script(args=[*self._record_args(message), queue, payload], client=client)

    def _reserver(self, engine_prefix: str) -> Any:
        return lambda size: self._reserve_script(args=[engine_prefix, size])

    def _record_args(self, message: TaskMessage) -> list[Any]:
        return [prefix(message.engine), message.id, time.time(), message.producer, RECORD_TTL]
