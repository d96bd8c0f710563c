"""Task ids for brokers that cannot count for us: time-ordered 63-bit ints.

Redis hands out ids with ``INCR`` (see ``ledger.py``). RabbitMQ and the in-memory broker
have no counter, so an id is built the way Twitter's Snowflake builds one:

    41 bits of milliseconds since 2025-01-01 | 16 bits of node | 6 bits of sequence

The node is drawn at random per process (and again in a forked child), so two processes
collide only if they drew the same node *and* made an id in the same millisecond with the
same sequence number. Ids from one process strictly increase: past 64 ids in one
millisecond it borrows the next millisecond, and a clock that steps back is not followed.
"""

from __future__ import annotations

import os
import secrets
import threading
import time

__all__ = ["SnowflakeIds", "snowflake"]

EPOCH_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z
NODE_BITS = 16
SEQUENCE_BITS = 6
_TIME_SHIFT = NODE_BITS + SEQUENCE_BITS
_MAX_SEQUENCE = (1 << SEQUENCE_BITS) - 1


class SnowflakeIds:
    """A thread-safe source of unique, increasing, positive 63-bit ids."""

    __slots__ = ("_last_ms", "_lock", "_node", "_sequence")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._node = secrets.randbits(NODE_BITS)
        self._last_ms = 0
        self._sequence = 0

    def reseed(self) -> None:
        """A new node for a forked child: its parent goes on with the old one."""
        self._lock = threading.Lock()
        self._node = secrets.randbits(NODE_BITS)

    def __call__(self) -> int:
        with self._lock:
            now = max(time.time_ns() // 1_000_000 - EPOCH_MS, 1)
            if now > self._last_ms:
                self._last_ms, self._sequence = now, 0
            elif self._sequence < _MAX_SEQUENCE:
                self._sequence += 1
            else:
                self._last_ms, self._sequence = self._last_ms + 1, 0
            return (self._last_ms << _TIME_SHIFT) | (self._node << SEQUENCE_BITS) | self._sequence


# One source per process: ids stay increasing across the engines of a process.
snowflake = SnowflakeIds()
os.register_at_fork(after_in_child=snowflake.reseed)
