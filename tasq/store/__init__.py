"""The durable store: a journal of tasks in one SQLite file, shared by every process using it."""

from __future__ import annotations

from .journal import Journal
from .records import ClaimedTask, NewTask, Outcome, StoreStats, TaskRecord, TaskState
from .schema import SCHEMA_VERSION
from .url import StoreSync, store_path

__all__ = [
    "SCHEMA_VERSION",
    "ClaimedTask",
    "Journal",
    "NewTask",
    "Outcome",
    "StoreStats",
    "StoreSync",
    "TaskRecord",
    "TaskState",
    "store_path",
]
