"""Module-level task functions (named and described by the dashboard) for its tests."""

from __future__ import annotations

import threading
from collections import Counter

gates: dict[str, threading.Event] = {}
runs: Counter[str] = Counter()


def gate(key: str) -> threading.Event:
    return gates.setdefault(key, threading.Event())


def hold(key: str, note: str = "") -> None:
    """Runs until the test opens its gate."""
    runs[key] += 1
    gate(key).wait(30)


def fail(message: str, note: str = "") -> None:
    runs[message] += 1
    raise ValueError(message)


def flaky(key: str) -> None:
    """Fails on its first run, succeeds when run again."""
    runs[key] += 1
    if runs[key] == 1:
        raise RuntimeError(f"the first run of {key} fails")


def later(key: str) -> None:
    runs[key] += 1


def quick(n: int) -> int:
    return n * 2
