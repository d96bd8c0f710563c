"""The ledger in the broker's own Redis: every engine's accounts under ``tasq:<engine name>:``.

Ids come from ``INCR`` on one counter per engine name, shared by every process. Each live
task is one hash; each transition (accept, start, retry, cancel, finish, discard) is one
Lua script: atomic, one round trip. Keys are built from the engine's prefix inside the
scripts, as Dramatiq's own scripts do (a single Redis, not a cluster). What the answers
mean is ``ledger.py``'s ``Ledger`` protocol.
"""

from __future__ import annotations

import json
import time
from typing import Any

from ..task import TaskResult, TaskStatus, utc
from .ledger import RECORD_TTL, KeptCall, RemoteTaskError, not_failed, unknown_task
from .payload import TaskMessage

__all__ = ["RedisLedger", "prefix"]

_TRACEBACK_LIMIT = 8000

# ARGV[1] is the engine's prefix.
_ACCEPT = """
local id = redis.call('INCR', ARGV[1] .. ':ids')
local key = ARGV[1] .. ':task:' .. id
redis.call('HSET', key, 'status', 'PENDING', 'attempts', 0, 'enqueued_at', ARGV[2], 'producer', ARGV[3])
redis.call('EXPIRE', key, ARGV[4])
local outstanding = ARGV[1] .. ':outstanding:' .. ARGV[3]
redis.call('INCR', outstanding)
redis.call('EXPIRE', outstanding, ARGV[4])
return id
"""

_DISCARD = """
local key = ARGV[1] .. ':task:' .. ARGV[2]
if redis.call('DEL', key) == 1 then
  redis.call('DECR', ARGV[1] .. ':outstanding:' .. ARGV[3])
end
return 1
"""

_START = """
local key = ARGV[1] .. ':task:' .. ARGV[2]
local status = redis.call('HGET', key, 'status')
if (not status) or status == 'DONE' or status == 'FAILED' then return 0 end
if status == 'CANCELLED' then return 2 end
redis.call('HSET', key, 'status', 'RUNNING', 'attempts', ARGV[3])
redis.call('HSETNX', key, 'started_at', ARGV[4])
return 1
"""

_RETRY = """
local key = ARGV[1] .. ':task:' .. ARGV[2]
if redis.call('HGET', key, 'status') == 'RUNNING' then redis.call('HSET', key, 'status', 'PENDING') end
return 1
"""

_CANCEL = """
local key = ARGV[1] .. ':task:' .. ARGV[2]
if redis.call('HGET', key, 'status') ~= 'PENDING' then return 0 end
redis.call('HSET', key, 'status', 'CANCELLED')
return 1
"""

_FINISH = """
local key = ARGV[1] .. ':task:' .. ARGV[2]
local status = redis.call('HGET', key, 'status')
if (not status) or status == 'DONE' or status == 'FAILED' then return 0 end
local producer = redis.call('HGET', key, 'producer')
if producer then
  local outstanding = ARGV[1] .. ':outstanding:' .. producer
  if redis.call('DECR', outstanding) <= 0 then redis.call('DEL', outstanding) end
end
local keep = tonumber(ARGV[5])
if keep == 0 then
  redis.call('DEL', key)
  return 1
end
redis.call('HSET', key, 'status', ARGV[3], 'finished_at', ARGV[4], 'attempts', ARGV[6],
  'error_type', ARGV[7], 'error', ARGV[8], 'traceback', ARGV[9], 'value', ARGV[10], 'call', ARGV[12])
redis.call('EXPIRE', key, ARGV[11])
local finished = ARGV[1] .. ':finished'
redis.call('RPUSH', finished, ARGV[2])
while redis.call('LLEN', finished) > keep do
  redis.call('DEL', ARGV[1] .. ':task:' .. redis.call('LPOP', finished))
end
return 1
"""


class RedisLedger:
    """Accounts in the broker's own Redis, under ``tasq:<engine name>:``."""

    observes_workers = True

    def __init__(self, client: Any) -> None:
        self._client = client
        self._accept = client.register_script(_ACCEPT)
        self._discard = client.register_script(_DISCARD)
        self._start = client.register_script(_START)
        self._retry = client.register_script(_RETRY)
        self._finish = client.register_script(_FINISH)
        self._cancel = client.register_script(_CANCEL)

    def accept(self, engine: str, producer: str) -> int:
        return int(self._accept(args=[prefix(engine), time.time(), producer, RECORD_TTL]))

    def discard(self, message: TaskMessage) -> None:
        self._discard(args=[prefix(message.engine), message.id, message.producer])

    def started(self, message: TaskMessage) -> int:
        return int(self._start(args=[prefix(message.engine), message.id, message.attempt, time.time()]))

    def cancel(self, engine: str, task_id: int) -> bool:
        return bool(self._cancel(args=[prefix(engine), task_id]))

    def failed_call(self, engine: str, task_id: int) -> KeptCall:
        raw = self._client.hmget(f"{prefix(engine)}:task:{task_id}", "status", "call")
        status, call = (None if value is None else _text(value) for value in raw)
        if status is None:
            return unknown_task(task_id)
        if status != "FAILED":
            return not_failed(task_id, status)
        if not call:
            return f"task {task_id} failed but its call was not kept"
        name, args, kwargs = json.loads(call)
        return str(name), list(args), dict(kwargs)

    def retrying(self, message: TaskMessage) -> None:
        self._retry(args=[prefix(message.engine), message.id])

    def finished(self, message: TaskMessage, status: TaskStatus, value: object, error: BaseException | None) -> bool:
        error_type = error_text = trace = stored = call = ""
        if message.results:
            if error is not None:
                error_type, error_text, trace = _describe_error(error)
                call = json.dumps([message.name, message.args, message.kwargs])
            stored = _json_or_empty(value)
        args = [prefix(message.engine), message.id, status.value, time.time(), message.results, message.attempt]
        args += [error_type, error_text, trace, stored, RECORD_TTL, call]
        return bool(self._finish(args=args))

    def result(self, engine: str, task_id: int) -> TaskResult | None:
        raw = self._client.hgetall(f"{prefix(engine)}:task:{task_id}")
        if not raw:
            return None
        record = {_text(key): _text(value) for key, value in raw.items()}
        error: BaseException | None = None
        if record.get("error_type"):
            error = RemoteTaskError(record["error_type"], record.get("error", ""), record.get("traceback", ""))
        value = json.loads(record["value"]) if record.get("value") else None
        return TaskResult(
            id=task_id,
            status=TaskStatus(_shown(record.get("status", "PENDING"))),
            attempts=int(record.get("attempts", 0)),
            return_value=value,
            error=error,
            enqueued_at=utc(float(record.get("enqueued_at", 0))),
            started_at=utc(float(record["started_at"])) if record.get("started_at") else None,
            finished_at=utc(float(record["finished_at"])) if record.get("finished_at") else None,
        )

    def outstanding(self, engine: str, producer: str) -> int | None:
        value = self._client.get(f"{prefix(engine)}:outstanding:{producer}")
        return max(0, int(value)) if value is not None else 0


def _shown(status: str) -> str:
    return "PENDING" if status == "CANCELLED" else status  # cancel()'s mark: PENDING until a worker reports it


def prefix(engine: str) -> str:
    return f"tasq:{engine}"


def _describe_error(error: BaseException) -> tuple[str, str, str]:
    import traceback

    trace = "".join(traceback.format_exception(error))[-_TRACEBACK_LIMIT:]
    return type(error).__qualname__, str(error), trace


def _json_or_empty(value: object) -> str:
    if value is None:
        return ""
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return ""  # result(id) shows return values that JSON can carry, None otherwise


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
