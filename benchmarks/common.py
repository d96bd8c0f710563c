"""How every benchmark here measures: peers side by side, interleaved, medians of ratios.

A benchmark module exposes ``run(quick: bool) -> list[Result]``. It measures each
contender with ``measure()`` in one process run, alternating between them repetition
by repetition, so that the machine's drift hits every contender alike; the ratio it
reports is the median over repetitions of (contender time / baseline time).

Also here, what several benchmarks share: the counting callback every contender gets
(``Countdown``), the ``tasq`` logger sent to one handler (``tasq_log``), and the harness of
the scale-out benchmarks (Dramatiq, Celery): real worker processes (``WorkerProcess``),
a broker that is down reported as skipped, a backlog drained by one fresh worker.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tasq import Hooks, TasQ

ROOT = Path(__file__).resolve().parent.parent
WAIT = 300.0  # seconds: a contender that has not finished by then is broken, not slow


@dataclass(frozen=True, slots=True)
class Result:
    group: str  # the table this row belongs to, e.g. "engine: 100k no-op tasks end to end"
    name: str  # the contender, e.g. "TasQ (default)"
    ns: float  # median nanoseconds per task (or per request, or bytes: see unit)
    ratio: float | None = None  # median of paired ratios to the group's baseline
    baseline: str | None = None  # the contender the ratio is against
    target: str = ""  # the target this row is held to, e.g. "<= 1.3x floor"
    met: bool | None = None  # whether the target is met (None: no target)
    unit: str = "ns/task"
    note: str = ""
    spread: tuple[float, float] | None = None  # lowest and highest paired ratio: how noisy the run was


Trial = Callable[[], float]  # runs one repetition, returns seconds for `per` operations


def measure(trials: dict[str, Trial], repetitions: int, per: int) -> dict[str, list[float]]:
    """Run each trial ``repetitions`` times, interleaved; ns per operation for each run."""
    samples: dict[str, list[float]] = {name: [] for name in trials}
    for _ in range(repetitions):
        for name, trial in trials.items():
            gc.collect()
            seconds = trial()
            samples[name].append(seconds / per * 1e9)
    return samples


def paired_ratio(samples: dict[str, list[float]], name: str, baseline: str) -> float:
    return statistics.median(a / b for a, b in zip(samples[name], samples[baseline], strict=True))


def ratio_range(samples: dict[str, list[float]], name: str, baseline: str) -> tuple[float, float]:
    """The lowest and highest paired ratio: the spread that the median hides."""
    ratios = [a / b for a, b in zip(samples[name], samples[baseline], strict=True)]
    return min(ratios), max(ratios)


def row(group: str, samples: dict[str, list[float]], name: str, baseline: str, **fields: Any) -> Result:
    """A table row: the contender's median, and its paired ratio (and range) to the baseline."""
    return Result(
        group=group,
        name=name,
        ns=median(samples[name]),
        ratio=paired_ratio(samples, name, baseline),
        baseline=baseline,
        spread=ratio_range(samples, name, baseline),
        **fields,
    )


def median(values: list[float]) -> float:
    return statistics.median(values)


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


T = TypeVar("T")


class EmptyAroundTask(Hooks):
    """The least a per-task layer can add: one ``around_task`` hook that only calls the task.
    An integration's layer is measured against the bare engine; this is its lower bound."""

    def around_task(self, task_id: int, call: Callable[[], T]) -> T:
        return call()


# -- callbacks and logging ------------------------------------------------------------


class Countdown:
    """The callback every contender gets: counts, and sets ``finished`` at ``n``.

    ``on_done`` is the countdown itself (or ``.done``, the same function); ``on_failed``
    is ``.failed``.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self._count = itertools.count(1)  # next() on it is atomic: no lock needed
        self.finished = threading.Event()

    def __call__(self, task_id: object) -> None:
        if next(self._count) == self.n:
            self.finished.set()

    done = __call__

    def failed(self, task_id: object, error: BaseException) -> None:
        if next(self._count) == self.n:
            self.finished.set()

    def wait(self) -> None:
        if not self.finished.wait(WAIT):
            raise RuntimeError(f"only some of {self.n} tasks finished within {WAIT}s")


@contextlib.contextmanager
def tasq_log(level: int, handler: logging.Handler) -> Iterator[None]:
    """The ``tasq`` logger at ``level`` (NOTSET: its default), to ``handler`` only."""
    log = logging.getLogger("tasq")
    saved = log.level, log.propagate, log.handlers[:]
    log.setLevel(level)
    log.propagate = False
    log.handlers[:] = [handler]
    try:
        yield
    finally:
        log.setLevel(saved[0])  # setLevel, not an assignment: it clears the logger's level cache
        log.propagate = saved[1]
        log.handlers[:] = saved[2]


# -- worker processes (the scale-out benchmarks) ----------------------------------------

THREADS = 8  # per worker process, both sides (Dramatiq's default)


def up(url: str) -> bool:
    """Whether the broker of ``url`` takes a connection on its host and port."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=1):
            return True
    except OSError:
        return False


def skipped(group: str, name: str, why: str) -> Result:
    return Result(group=group, name=name, ns=float("nan"), note=f"skipped: {why}")


def per_second(samples: dict[str, list[float]], name: str) -> str:
    return f"{1e9 / median(samples[name]):,.0f} tasks/s"


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """The brokers' INFO lines and the cancellations of the enqueue-only engine are not output."""
    loggers = [logging.getLogger(), logging.getLogger("tasq")]
    saved = [log.level for log in loggers]
    loggers[0].setLevel(logging.WARNING)
    loggers[1].setLevel(logging.ERROR)
    try:
        yield
    finally:
        for log, level in zip(loggers, saved, strict=True):
            log.setLevel(level)  # setLevel, not an assignment: it clears the loggers' level cache


class WorkerProcess:
    """A worker process (``tasq worker``, ``dramatiq``, ``celery worker``) in its own session,
    until ``stop()``; ``ready`` is what it logs once it consumes."""

    ready = "ready for action"

    def __init__(self, command: list[str], url: str) -> None:
        self.log = Path(tempfile.mkstemp(prefix="tasq-bench-worker-", suffix=".log")[1])
        env = dict(os.environ, TASQ_BENCH_REDIS=url, dramatiq_worker_timeout="100")
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while self.ready not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the worker did not start:\n{self.log.read_text()[-2000:]}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self.log.unlink(missing_ok=True)


def tasq_worker_command(app_module: str, *options: str) -> list[str]:
    """``tasq worker APP_MODULE [OPTIONS]``: one process of ``THREADS`` threads."""
    script = Path(sys.executable).with_name("tasq")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "tasq.cli"]
    return [*command, "worker", app_module, *options, "-p", "1", "-t", str(THREADS)]


def wait_until(done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not done in {WAIT}s")
        time.sleep(0.002)


def drain(start_worker: Callable[[], WorkerProcess], send: Callable[[], None], left: Callable[[], int]) -> float:
    """Seconds per task while one fresh worker drains the backlog ``send`` made."""
    send()
    worker = start_worker()
    try:
        before = left()
        wait_until(lambda: left() < before)
        started, backlog = time.perf_counter(), left()
        wait_until(lambda: left() == 0)
        return (time.perf_counter() - started) / max(1, backlog)
    finally:
        worker.stop()


def enqueuing(engine: TasQ, task: object, n: int) -> Trial:
    """``task`` enqueued ``n`` times, nothing waited for."""

    def trial() -> float:
        started = time.perf_counter()
        for _ in range(n):
            engine.enqueue(task)
        return time.perf_counter() - started

    return trial


def enqueuing_and_joining(engine: TasQ, task: object, n: int) -> Trial:
    """``task`` enqueued ``n`` times, until ``engine.join()`` says the last one is done."""

    def trial() -> float:
        started = time.perf_counter()
        for _ in range(n):
            engine.enqueue(task)
        if not engine.join(WAIT):
            raise TimeoutError("the tasq worker did not finish")
        return time.perf_counter() - started

    return trial
