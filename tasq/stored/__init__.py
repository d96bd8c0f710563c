"""The engine of ``TasQ(store=...)``: tasks kept in a durable journal, run by this process's threads."""

from __future__ import annotations

from .engine import StoreEngine

__all__ = ["StoreEngine"]
