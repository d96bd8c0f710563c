"""For the multi-process tests: each claimed slot and each run as a line in one shared log.

A line is one os.write() on an O_APPEND descriptor, so lines from processes never mix:
``slot <pid> <slot iso> <task id> <wall time>`` when the ticker enqueues a slot (read from its
debug record), ``run <pid> <wall time>`` when the task runs. The tests ``read`` it, and
``wait_for`` what it should come to hold.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path


class _SlotLines(logging.Handler):
    def __init__(self, fd: int) -> None:
        super().__init__(logging.DEBUG)
        self.fd = fd

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith("periodic %s: slot %s runs as task %d") and isinstance(record.args, tuple):
            _, slot, task_id = record.args
            assert isinstance(slot, datetime)
            os.write(self.fd, f"slot {os.getpid()} {slot.isoformat()} {task_id} {time.time():.3f}\n".encode())


def open_log(path: str) -> int:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    logger = logging.getLogger("tasq.periodic.ticker")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(_SlotLines(fd))
    return fd


def write_run(fd: int) -> None:
    os.write(fd, f"run {os.getpid()} {time.time():.3f}\n".encode())


def read(path: Path) -> list[list[str]]:
    if not path.exists():
        return []
    return [line.split() for line in path.read_text().splitlines() if line.strip()]


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
