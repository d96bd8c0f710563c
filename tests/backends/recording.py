"""Hooks and callbacks that write one JSON line per event, and a reader that waits on them.

The same ``EventLog`` runs inside the test process (thread engine, in-memory broker) and
inside ``tasq worker`` processes: each writes whole lines to one file with O_APPEND, so
the test sees what every process reported, in order, with the pid that reported it.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tasq import Hooks, RetryTask

TERMINAL = ("on_done", "on_failed")


class EventLog(Hooks):
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.Lock()

    def write(self, event: str, task_id: int, **fields: Any) -> None:
        line = json.dumps({"event": event, "id": task_id, "pid": os.getpid(), "t": time.time(), **fields})
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, (line + "\n").encode())
            finally:
                os.close(fd)

    def after_enqueue(self, task_id: int) -> None:
        self.write("enqueued", task_id)

    def before_task(self, task_id: int, attempt: int) -> None:
        self.write("start", task_id, attempt=attempt)

    def after_retry(self, task_id: int, error: RetryTask) -> None:
        self.write("retry", task_id, error=str(error))

    def after_done(self, task_id: int, return_value: object) -> None:
        self.write("done", task_id, value=return_value)

    def after_failed(self, task_id: int, error: BaseException) -> None:
        cause = error.__cause__
        self.write("failed", task_id, error=type(error).__name__, cause=type(cause).__name__ if cause else None)

    def on_done(self, task_id: int) -> None:
        self.write("on_done", task_id)

    def on_failed(self, task_id: int, error: BaseException) -> None:
        self.write("on_failed", task_id, error=type(error).__name__)


class Events:
    """Reads an ``EventLog`` file; ``wait`` polls it until every id has its terminal callback."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.touch()

    def all(self) -> list[dict[str, Any]]:
        text = self.path.read_text()
        return [json.loads(line) for line in text.splitlines() if line.endswith("}")]

    def of(self, task_id: int, event: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.all() if e["id"] == task_id and (event is None or e["event"] == event)]

    def wait(self, ids: list[int], timeout: float = 15.0) -> bool:
        wanted = set(ids)
        deadline = time.monotonic() + timeout
        while True:
            finished = {e["id"] for e in self.all() if e["event"] in TERMINAL}
            if wanted <= finished:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)

    def assert_once_each(self, ids: list[int]) -> None:
        """One terminal callback and one terminal hook per id, each exactly once."""
        events = [e for e in self.all() if e["id"] in set(ids)]
        callbacks = Counter(e["id"] for e in events if e["event"] in TERMINAL)
        hooks = Counter(e["id"] for e in events if e["event"] in ("done", "failed"))
        assert set(callbacks) == set(ids), f"ids never reported: {set(ids) - set(callbacks)}"
        assert all(n == 1 for n in callbacks.values()), f"reported more than once: {callbacks.most_common(3)}"
        assert hooks == callbacks, "each terminal callback comes with its hook"

    def outcome(self, task_id: int) -> dict[str, Any]:
        (event,) = [e for e in self.of(task_id) if e["event"] in ("done", "failed")]
        return event
