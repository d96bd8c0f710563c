"""The contract suite's tasks: one module, imported by the tests and by ``tasq worker``."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter

from tasq import RetryTask, background

_attempts: Counter[str] = Counter()
_lock = threading.Lock()


def _attempt(key: str) -> int:
    with _lock:
        _attempts[key] += 1
        return _attempts[key]


@background
def add(a: int, b: int) -> int:
    return a + b


@background
def echo(value: object) -> object:
    return value


@background
def fail(kind: str) -> None:
    errors: dict[str, type[BaseException]] = {
        "ValueError": ValueError,
        "KeyboardInterrupt": KeyboardInterrupt,
        "SystemExit": SystemExit,
    }
    raise errors[kind](f"a {kind} on purpose")


@background
def retry_until(key: str, succeed_on: int) -> int:
    """Asks for a retry until its ``succeed_on``-th attempt (counted per key, per process)."""
    attempt = _attempt(key)
    if attempt < succeed_on:
        raise RetryTask(f"attempt {attempt} of {key}")
    return attempt


@background(max_retry=2)
def always_retry() -> None:
    raise RetryTask("never enough")


@background
def retry_once_after(key: str, delay: float) -> int:
    attempt = _attempt(key)
    if attempt == 1:
        raise RetryTask("once more, later", delay=delay)
    return attempt


@background(name="contract.renamed")
def renamed(x: int) -> int:
    return x * 2


@background
async def async_double(x: int) -> int:
    await asyncio.sleep(0)
    return x * 2


@background
def sleep_then(seconds: float, value: int) -> int:
    time.sleep(seconds)
    return value


@background(time_limit=0.5)
def spin(seconds: float) -> str:
    """Busy for ``seconds`` unless its time limit ends it first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pass
    return "finished"


@background(time_limit=0.5)
async def hang(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "finished"
