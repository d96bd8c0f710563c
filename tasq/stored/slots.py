"""Periodic slots claimed in the store: one run per slot across every process sharing it.

The slot's row (engine, task, slot) has a primary key, so of all the processes whose tickers
reach the same slot exactly one inserts it; the others are told no. Rows of slots that no
process considers any more are deleted as new ones are claimed.
"""

from __future__ import annotations

import math
from datetime import datetime

from ..store import Journal

__all__ = ["StoreSlotClaim"]

_KEEP_AT_LEAST = 3600  # seconds a slot's row is kept past its slot, at the least


class StoreSlotClaim:
    """``SlotClaim`` over the journal's ``periodic_slot`` table."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def claim(self, engine: str, task: str, slot: datetime, keep_until: datetime) -> bool:
        at = math.floor(slot.timestamp())
        kept = max(_KEEP_AT_LEAST, math.ceil((keep_until - slot).total_seconds()) * 2)
        return self.journal.take_slot(engine, task, at, at - kept)
