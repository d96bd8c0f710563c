"""Hooks that write one line per run and per reported outcome, appended with O_APPEND, so
that a test can count the runs of every process that served an app, killed ones included."""

from __future__ import annotations

import json
import os
import time

from tasq import Hooks


class RunLog(Hooks):
    def __init__(self, path: str) -> None:
        self.path = path

    def _write(self, event: str, task_id: int, **fields: object) -> None:
        line = json.dumps({"e": event, "id": task_id, "pid": os.getpid(), "t": time.time(), **fields}) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def before_task(self, task_id: int, attempt: int) -> None:
        self._write("start", task_id, attempt=attempt)

    def after_done(self, task_id: int, return_value: object) -> None:
        self._write("end", task_id)

    def after_failed(self, task_id: int, error: BaseException) -> None:
        self._write("end", task_id, error=type(error).__name__)
