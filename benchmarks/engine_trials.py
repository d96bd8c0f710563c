"""What the engine benchmarks share: the contenders behind one ``Pool`` protocol (the floor
pool of benchmarks/floor.py, the same with a record per task, TasQ, ThreadPoolExecutor), the
callbacks they count down, and the trials that time them.

Every contender gets the same task, the same counting done-callback and the same number
of workers (10, TasQ's default), started before the clock starts (``running``).
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from benchmarks.common import WAIT, Countdown, Trial, measure
from benchmarks.floor import FloorPool, RecordingFloorPool
from tasq import RetryTask, TasQ

WORKERS = 10

FLOOR = "floor (SimpleQueue pool)"
TASQ = "TasQ (default)"
TASQ_RESULTS = "TasQ (results=10_000)"
FLOOR_RECORDING = "floor + a record per task (the least results=10_000 can cost)"
TPE = "ThreadPoolExecutor"


def noop() -> None:
    pass


class LockedCountdown(Countdown):
    """The done-callback a user writes: a counter under a lock (the lock is part of the cost)."""

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self._lock = threading.Lock()
        self._left = n

    def __call__(self, task_id: object) -> None:
        with self._lock:
            self._left -= 1
            left = self._left
        if left == 0:
            self.finished.set()


class Pool(Protocol):
    """What a trial needs from a contender: enqueue a zero-argument call, then close."""

    def enqueue(self, fn: Callable[[], object]) -> object: ...

    def close(self) -> object: ...


class Executor:
    """ThreadPoolExecutor used as its users do: ``submit`` and ``add_done_callback``."""

    def __init__(self, workers: int, on_done: Countdown, max_retry: int = 3) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers)
        self._on_done = on_done
        self._max_retry = max_retry
        self._callback = self._done

    def enqueue(self, fn: Callable[[], object]) -> object:
        future = self._pool.submit(fn)
        future.add_done_callback(self._callback)
        return future

    def _done(self, future: Future[object]) -> None:
        self._on_done(future)

    def enqueue_retrying(self, fn: Callable[[], object], attempt: int = 1) -> None:
        # Each attempt is a new submit: what a user retrying through the executor writes.
        future = self._pool.submit(fn)
        future.add_done_callback(functools.partial(self._settle, fn, attempt))

    def _settle(self, fn: Callable[[], object], attempt: int, future: Future[object]) -> None:
        if isinstance(future.exception(), RetryTask) and attempt < self._max_retry:
            self.enqueue_retrying(fn, attempt + 1)
        else:
            self._on_done(future)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


Factory = Callable[[int, Countdown], Pool]


def tasq_pool(**options: Any) -> Factory:
    def make(workers: int, on_done: Countdown) -> Pool:
        engine = TasQ(workers=workers, on_done=on_done, **options)
        engine.start()
        return engine

    return make


def floor_pool(workers: int, on_done: Countdown) -> Pool:
    pool = FloorPool(workers, on_done=on_done)
    pool.start()
    return pool


def recording_floor_pool(workers: int, on_done: Countdown) -> Pool:
    pool = RecordingFloorPool(workers, on_done=on_done, size=10_000)
    pool.start()
    return pool


def executor_pool(workers: int, on_done: Countdown) -> Pool:
    return Executor(workers, on_done)


@contextlib.contextmanager
def running(
    make: Factory, workers: int, expected: int, countdown: type[Countdown] = Countdown
) -> Iterator[tuple[Pool, Countdown]]:
    """A started pool whose every worker thread exists and is idle (the executor makes its
    threads on demand: a barrier makes it make them all before the clock starts)."""
    done = countdown(expected + workers)
    pool = make(workers, done)
    barrier = threading.Barrier(workers + 1)
    for _ in range(workers):
        pool.enqueue(barrier.wait)
    barrier.wait(WAIT)
    try:
        yield pool, done
    finally:
        pool.close()


@contextlib.contextmanager
def blocked(make: Factory, workers: int, expected: int) -> Iterator[tuple[Pool, Countdown]]:
    """A pool whose workers all run a task that waits, so what is enqueued stays pending."""
    done = Countdown(expected + workers)
    pool = make(workers, done)
    started = threading.Semaphore(0)
    gate = threading.Event()

    def hold() -> None:
        started.release()
        gate.wait(WAIT)

    for _ in range(workers):
        pool.enqueue(hold)
    for _ in range(workers):
        started.acquire(timeout=WAIT)
    try:
        yield pool, done
    finally:
        gate.set()
        done.wait()
        pool.close()


def end_to_end(
    make: Factory,
    n: int,
    task: Callable[[], object] = noop,
    workers: int = WORKERS,
    cpu: list[float] | None = None,
    countdown: type[Countdown] = Countdown,
) -> Trial:
    """Wall time from the first enqueue to the last on_done; the process's CPU time over
    the same span goes to ``cpu`` (a cross-check that other processes do not inflate)."""

    def trial() -> float:
        with running(make, workers, n, countdown) as (pool, done):
            enqueue = pool.enqueue
            started, cpu_started = time.perf_counter(), time.process_time()
            for _ in range(n):
                enqueue(task)
            done.wait()
            elapsed = time.perf_counter() - started
            if cpu is not None:
                cpu.append(time.process_time() - cpu_started)
            return elapsed

    return trial


def measure_warm(trials: dict[str, Trial], repetitions: int, per: int) -> dict[str, list[float]]:
    """``measure``, after one untimed run of each trial (first-use costs: imports, caches)."""
    for trial in trials.values():
        trial()
    return measure(trials, repetitions, per)
