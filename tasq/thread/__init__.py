"""The thread engine: tasks run in a pool of worker threads of this process (see engine.py)."""

from .engine import ThreadEngine

__all__ = ["ThreadEngine"]
