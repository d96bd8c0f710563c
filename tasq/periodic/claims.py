"""Who runs a slot: the first process to claim it, wherever the app's processes can agree.

``SlotClaim`` is the one seam. In memory the app's processes on one machine agree through a
file lock (``tasq.periodic.filelock``); a durable store claims a slot with a unique key in its
own table; a scale-out engine over Redis claims it in the broker's Redis (``RedisSlotClaim``).
"""

from __future__ import annotations

import math
import os
import threading
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

__all__ = ["MemorySlotClaim", "RedisSlotClaim", "SlotClaim", "slot_key"]


@runtime_checkable
class SlotClaim(Protocol):
    def claim(self, engine: str, task: str, slot: datetime, keep_until: datetime) -> bool:
        """True for the first caller, in any process, to claim (engine, task, slot); False after.

        ``slot`` is an aware UTC datetime: the instant the run is scheduled for. No process
        considers a slot after ``keep_until``, so the claim need not be remembered longer (a
        store may prune it then; Redis lets the key expire). Raising means "not claimed": the
        slot is skipped, never run twice.
        """


def slot_key(engine: str, task: str, slot: datetime) -> str:
    """One text key per (engine, task, slot), the same in every process."""
    return f"{engine}:{task}:{slot.astimezone(UTC).isoformat()}"


class MemorySlotClaim:
    """Claims that one process keeps to itself (a single process, or tests)."""

    def __init__(self) -> None:
        self._claimed: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def claim(self, engine: str, task: str, slot: datetime, keep_until: datetime) -> bool:
        key = slot_key(engine, task, slot)
        with self._lock:
            # Forget claims that no one considers any more, by the claims' own timeline (the
            # slot asked about now), so that a fake clock works as well as the real one.
            for old in [k for k, until in self._claimed.items() if until < slot]:
                del self._claimed[old]
            if key in self._claimed:
                return False
            self._claimed[key] = keep_until
            return True


class RedisClient(Protocol):
    def set(self, name: str, value: str, *, ex: int | None = None, nx: bool = False) -> Any: ...

    def close(self) -> Any: ...


class RedisSlotClaim:
    """A slot is claimed by ``SET key NX EX``: Redis answers one caller yes, every other no.

    The key expires a minute after ``keep_until``: a margin for clocks that differ between
    machines. ``client`` is a ``redis.Redis`` (the broker's own, or one made from its URL).
    """

    MARGIN = 60  # seconds a key outlives keep_until

    def __init__(self, client: RedisClient, prefix: str = "tasq:periodic") -> None:
        self.client = client
        self.prefix = prefix
        import socket  # here, not at import: importing tasq stays light

        self._host = socket.gethostname()

    def claim(self, engine: str, task: str, slot: datetime, keep_until: datetime) -> bool:
        ttl = math.ceil((keep_until - datetime.now(UTC)).total_seconds()) + self.MARGIN
        key = f"{self.prefix}:{slot_key(engine, task, slot)}"
        return bool(self.client.set(key, f"{self._host}:{os.getpid()}", ex=max(1, ttl), nx=True))

    def close(self) -> None:
        """Release the client's connections (the ticker stopped)."""
        self.client.close()
