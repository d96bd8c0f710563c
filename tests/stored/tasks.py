"""The store tests' tasks: found again by name, by this process and by the child processes.

A task that must be seen running records itself in a file named by its argument, one line
per run written with O_APPEND (``record``), so that every process's runs can be counted.
Tasks that wait for the test wait on a ``Gate`` of this module, by key, in this process.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections import Counter

from tasq import RetryTask, background

_attempts: Counter[str] = Counter()
_lock = threading.Lock()
gates: dict[str, threading.Event] = {}  # key -> opened by the test
started: dict[str, threading.Event] = {}  # key -> set when a task waiting on that gate starts


def append_line(path: str, fields: dict[str, object]) -> None:
    """One whole JSON line, appended atomically (O_APPEND, one write)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(fields) + "\n").encode())
    finally:
        os.close(fd)


def read_lines(path: str) -> list[dict[str, object]]:
    try:
        with open(path) as file:
            return [json.loads(line) for line in file if line.endswith("}\n")]
    except FileNotFoundError:
        return []


@background
def add(a: int, b: int) -> int:
    return a + b


@background
def echo(text: str, n: int) -> int:
    """Carries ``text`` (padding) and returns ``n``."""
    return n


def plain_add(a: int, b: int) -> int:
    """A module-level function without the decorator, for ``submit``."""
    return a + b


@background
def record(path: str, tag: object) -> object:
    """Appends one line per run: its tag, the pid and the time."""
    append_line(path, {"tag": tag, "pid": os.getpid(), "t": time.time()})
    return tag


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
    with _lock:
        _attempts[key] += 1
        attempt = _attempts[key]
    if attempt < succeed_on:
        raise RetryTask(f"attempt {attempt} of {key}")
    return attempt


@background
def retry_later(path: str, delay: float) -> str:
    """Records its run, then asks to run again ``delay`` seconds later."""
    append_line(path, {"tag": "retry_later", "pid": os.getpid(), "t": time.time()})
    raise RetryTask("later", delay=delay)


@background
def wait_gate(key: str) -> str:
    """Says it started, then waits until the test opens the gate ``key`` (in this process)."""
    started.setdefault(key, threading.Event()).set()
    if not gates.setdefault(key, threading.Event()).wait(30):
        raise TimeoutError(f"gate {key} never opened")
    return key


@background(time_limit=0.3)
def spin(seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pass
    return "finished"


@background(time_limit=0.3)
async def hang(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "finished"


@background(rerun_lost=False)
def once_only(path: str) -> None:
    """Records its run, then blocks until its process is killed."""
    append_line(path, {"tag": "once_only", "pid": os.getpid(), "t": time.time()})
    time.sleep(60)


@background
def block_forever(path: str) -> None:
    """Records its run, then blocks until its process is killed; a run after that returns."""
    earlier = [line for line in read_lines(path) if line["tag"] == "block_forever"]
    append_line(path, {"tag": "block_forever", "pid": os.getpid(), "t": time.time()})
    if not earlier:
        time.sleep(60)


@background(name="stored.renamed")
def renamed(x: int) -> int:
    return x * 2


@background
def record_id(path: str, tag: int) -> None:
    """Appends ``tag`` to this process's file ``PATH.PID``: one short line per run."""
    fd = os.open(f"{path}.{os.getpid()}", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{tag}\n".encode())
    finally:
        os.close(fd)


@background
def linger(path: str, seconds: float) -> str:
    """Records its start, sleeps ``seconds``, records its end: a run seen whole or cut short."""
    append_line(path, {"tag": "start", "pid": os.getpid(), "t": time.time()})
    time.sleep(seconds)
    append_line(path, {"tag": "end", "pid": os.getpid(), "t": time.time()})
    return "lingered"
