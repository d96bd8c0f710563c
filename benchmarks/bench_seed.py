"""The seed's own three benchmarks, ``Task`` objects whose ``do()`` returns (SuccessDone),
raises (CustomErrorDone) or raises ``RetryTask`` every time, ``max_retry=3`` (RetryError3),
10 workers, counting callbacks: TasQ with its logger at CRITICAL (the target row) against
the seed's design rendered in Python (the floor), TasQ with its default logging formatted
by a handler, the same log records made alone in one thread (the logging module's own
share), and ThreadPoolExecutor; the floor's row carries the seed's Go figure.

The Go library TasQ renders measures ``Enqueue`` of N ``Task`` objects (a type with a
``Do()`` method), counts ``TaskDone``/``TaskFailed`` down, closes and waits:
``SuccessDone`` (``do()`` returns), ``CustomErrorDone`` (``do()`` raises) and
``RetryError3`` (``do()`` raises ``RetryTask`` every time, ``max_retry=3``), 565-609 ns/op
on 4 cores. Here each runs side by side with the seed's design rendered in Python
(benchmarks/seed_floor.py: a queue, 10 threads, an in-place retry loop), TasQ with its
logger off, TasQ with its default logging going to a handler that formats every record,
and ``ThreadPoolExecutor``; all with 10 workers and the same counting callbacks.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from benchmarks.common import WAIT, Countdown, Result, Trial, measure, median, paired_ratio, row, tasq_log
from benchmarks.seed_floor import SeedPool
from tasq import MaxRetryExceeded, RetryTask, TasQ

WORKERS = 10
MAX_RETRY = 3
GO_NS = "565-609 ns/op"  # the seed's own figures, Go, 4 cores
GO_MID_NS = 587.0

FLOOR = "seed's design in Python (SimpleQueue, in-place retries)"
TASQ = "TasQ (tasq logger at CRITICAL)"
TASQ_LOGGING = "TasQ (default logging, formatted)"
LOGGING_ALONE = "the same log records alone, one thread"
TPE = "ThreadPoolExecutor"


class SuccessDone:
    __slots__ = ()

    def do(self) -> None:
        pass


class CustomErrorDone:
    __slots__ = ()

    def do(self) -> None:
        raise ValueError("custom error")


class RetryError3:
    __slots__ = ()

    def do(self) -> None:
        raise RetryTask


# name, the task's type, the target (x the floor, logging off)
BENCHMARKS: list[tuple[str, type, float]] = [
    ("SuccessDone", SuccessDone, 1.3),
    ("CustomErrorDone", CustomErrorDone, 1.5),
    ("RetryError3", RetryError3, 1.5),
]


class Gate:
    """A task that holds its worker at a barrier: every worker is up before the clock starts."""

    __slots__ = ("barrier",)

    def __init__(self, barrier: threading.Barrier) -> None:
        self.barrier = barrier

    def do(self) -> None:
        self.barrier.wait(WAIT)


class Pool(Protocol):
    def enqueue(self, task: Any) -> object: ...

    def close(self) -> object: ...


class Executor:
    """ThreadPoolExecutor as its users write the seed's loop on it: the retry loop inside
    the submitted call, the outcome from the Future's done-callback."""

    def __init__(self, workers: int, countdown: Countdown) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers)
        self._countdown = countdown
        self._ids = itertools.count(1)

    def enqueue(self, task: Any) -> object:
        future = self._pool.submit(_attempts, task)
        future.add_done_callback(self._settle)
        return future

    def _settle(self, future: Future[None]) -> None:
        error = future.exception()
        if error is None:
            self._countdown.done(future)
        else:
            self._countdown.failed(future, error)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def _attempts(task: Any) -> None:
    for _ in range(MAX_RETRY):
        try:
            task.do()
        except RetryTask:
            continue
        return
    raise MaxRetryExceeded(f"asked for a retry {MAX_RETRY} times")


Factory = Callable[[Countdown], Pool]


def _floor(countdown: Countdown) -> Pool:
    pool = SeedPool(WORKERS, MAX_RETRY, on_done=countdown.done, on_failed=countdown.failed)
    pool.start()
    return pool


def _tasq(countdown: Countdown) -> Pool:
    engine = TasQ(workers=WORKERS, max_retry=MAX_RETRY, on_done=countdown.done, on_failed=countdown.failed)
    engine.start()
    return engine


def _executor(countdown: Countdown) -> Pool:
    return Executor(WORKERS, countdown)


class Formatted(logging.Handler):
    """What a configured handler pays short of writing: each record formatted, traceback and all."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.format(record)


def _tasq_log(level: int) -> contextlib.AbstractContextManager[None]:
    """The ``tasq`` logger at ``level`` (NOTSET: its default), to a formatting handler only."""
    return tasq_log(level, Formatted())


def _end_to_end(make: Factory, kind: type, n: int, level: int | None = None) -> Trial:
    def trial() -> float:
        tasks = [kind() for _ in range(n)]
        countdown = Countdown(n + WORKERS)
        with contextlib.ExitStack() as stack:
            if level is not None:
                stack.enter_context(_tasq_log(level))
            pool = make(countdown)
            try:
                barrier = threading.Barrier(WORKERS + 1)
                for _ in range(WORKERS):
                    pool.enqueue(Gate(barrier))
                barrier.wait(WAIT)
                enqueue = pool.enqueue
                started = time.perf_counter()
                for task in tasks:
                    enqueue(task)
                countdown.wait()
                return time.perf_counter() - started
            finally:
                pool.close()

    return trial


def _logging_alone(kind: type, n: int) -> Trial:
    """The records TasQ makes for ``n`` tasks of ``kind`` at its default level, made in one
    thread with nothing else running: the logging module's own share of the figure."""
    log = logging.getLogger("tasq")

    def trial() -> float:
        error: BaseException
        if kind is CustomErrorDone:
            error = _raised(ValueError("custom error"))
        else:
            error = _raised(MaxRetryExceeded("task 1 asked for a retry on each of its 3 attempts"))
            error.__cause__ = _raised(RetryTask())
        retry = RetryTask()
        with _tasq_log(logging.NOTSET):
            started = time.perf_counter()
            if kind is not SuccessDone:
                for task_id in range(n):
                    if kind is RetryError3:
                        for attempt in range(1, MAX_RETRY):
                            log.warning(
                                "engine %r: task %d asked for a retry (attempt %d of %d), next attempt in %.3fs: %s",
                                "default",
                                task_id,
                                attempt,
                                MAX_RETRY,
                                0.0,
                                retry,
                                extra={"task_id": task_id, "attempt": attempt, "engine": "default"},
                            )
                    log.error(
                        "engine %r: task %d (%s) failed: %s: %s",
                        "default",
                        task_id,
                        "bench.Task.do",
                        type(error).__name__,
                        error,
                        exc_info=error,
                        extra={"task_id": task_id, "engine": "default"},
                    )
            return time.perf_counter() - started

    return trial


def _raised(error: BaseException) -> BaseException:
    try:
        raise error
    except BaseException as caught:
        return caught


def bench(name: str, kind: type, target: float, n: int, repetitions: int) -> list[Result]:
    logs = kind is not SuccessDone  # a task that succeeds makes no record
    trials = {
        FLOOR: _end_to_end(_floor, kind, n),
        TASQ: _end_to_end(_tasq, kind, n, logging.CRITICAL),
        TASQ_LOGGING: _end_to_end(_tasq, kind, n, logging.NOTSET),
        **({LOGGING_ALONE: _logging_alone(kind, n)} if logs else {}),
        TPE: _end_to_end(_executor, kind, n),
    }
    for trial in trials.values():  # first-use costs (imports, caches) outside the figures
        trial()
    samples = measure(trials, repetitions, per=n)
    group = f"seed benchmark {name}: {kind.__name__} Task objects, {WORKERS} workers (N={n:,})"
    ratio = paired_ratio(samples, TASQ, FLOOR)
    logged = paired_ratio(samples, TASQ_LOGGING, TASQ)
    note = f"{logged:.2f}x logging off"
    if logs:
        added = median([on - off for on, off in zip(samples[TASQ_LOGGING], samples[TASQ], strict=True)])
        alone = median(samples[LOGGING_ALONE])
        note += f"; logging adds {added:,.0f} ns/task, of which the log calls alone {alone:,.0f}"
    go = median(samples[TASQ]) / GO_MID_NS
    rows = [
        row(group, samples, FLOOR, FLOOR, note=f"the seed in Go: {GO_NS} on 4 cores"),
        row(
            group,
            samples,
            TASQ,
            FLOOR,
            target=f"<= {target}x floor",
            met=ratio <= target,
            note=f"{go:.1f}x the seed's Go figure",
        ),
        row(group, samples, TASQ_LOGGING, FLOOR, note=note),
    ]
    if logs:
        rows.append(row(group, samples, LOGGING_ALONE, FLOOR, note="the same logger calls, formatting handler"))
    rows.append(row(group, samples, TPE, FLOOR, note="retry loop inside the submitted call"))
    return rows


def run(quick: bool, *, n: int | None = None, repetitions: int | None = None) -> list[Result]:
    n = n or (10_000 if quick else 100_000)
    reps = repetitions or (3 if quick else 7)
    rows: list[Result] = []
    for name, kind, target in BENCHMARKS:
        rows.extend(bench(name, kind, target, n, reps))
    return rows


if __name__ == "__main__":
    import sys

    from benchmarks.report import print_tables

    print_tables(run(quick="--quick" in sys.argv))
