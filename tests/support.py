"""What the tests use to watch an engine: callbacks that record and can be waited on."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import NoReturn

from tasq import TasQ

# What the make_engine fixture is: TasQ's own options in, an engine closed after the test.
Make = Callable[..., TasQ]


def raising(error: BaseException) -> Callable[[], NoReturn]:
    """A task that raises ``error`` (a new copy of it each time, as a real task would)."""

    def task() -> NoReturn:
        raise type(error)(*error.args)

    return task


class Recorder:
    """``on_done`` / ``on_failed`` that count every report, so duplicates show."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.done: Counter[int] = Counter()
        self.failed: dict[int, list[BaseException]] = {}

    def on_done(self, task_id: int) -> None:
        with self._cond:
            self.done[task_id] += 1
            self._cond.notify_all()

    def on_failed(self, task_id: int, error: BaseException) -> None:
        with self._cond:
            self.failed.setdefault(task_id, []).append(error)
            self._cond.notify_all()

    @property
    def finished(self) -> int:
        return sum(self.done.values()) + sum(len(errors) for errors in self.failed.values())

    def wait(self, count: int, timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.finished >= count, timeout)

    def error(self, task_id: int) -> BaseException:
        (error,) = self.failed[task_id]
        return error

    def assert_once_each(self, ids: list[int]) -> None:
        """Each id reported exactly once, as done or failed, and nothing else reported."""
        reported = Counter(self.done)
        for task_id, errors in self.failed.items():
            reported[task_id] += len(errors)
        assert set(reported) == set(ids), "reports for unknown ids or ids never reported"
        twice = {task_id: n for task_id, n in reported.items() if n != 1}
        assert not twice, f"ids reported more than once: {twice}"


class Gate:
    """Tasks that block until the test opens the gate, and say when they have started."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self._started = threading.Semaphore(0)

    def task(self) -> None:
        self.task_started()
        if not self.opened.wait(30):
            raise TimeoutError("the gate was never opened")

    def task_started(self) -> None:
        self._started.release()

    def wait_started(self, count: int, timeout: float = 10.0) -> bool:
        return all(self._started.acquire(timeout=timeout) for _ in range(count))

    def open(self) -> None:
        self.opened.set()
