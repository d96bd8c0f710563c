"""The engine's waits: a task that retries twice then succeeds, and 1 ms sleeping tasks at
16 and 64 workers against the ideal (N x 1 ms / workers), the floor pool and
ThreadPoolExecutor. ``bench_engine.run`` runs them after its no-op groups.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from benchmarks.common import Result, Trial, paired_ratio, row, tasq_log
from benchmarks.engine_trials import (
    FLOOR,
    TASQ,
    TPE,
    WORKERS,
    Executor,
    Factory,
    end_to_end,
    executor_pool,
    floor_pool,
    measure_warm,
    running,
    tasq_pool,
)
from tasq import RetryTask, TasQ

RETRY = "a task that retries twice, then succeeds"
SLEEP = "1 ms sleeping tasks, {} workers (vs ideal N x 1 ms / workers)"
TASQ_QUIET = "TasQ (retry log off)"
IDEAL = "ideal"
SLEEP_ADJUSTED = "ideal with a measured sleep"
SLEEP_PROBES = 50


def sleep_1ms() -> None:
    time.sleep(0.001)


class Flaky:
    """Asks for a retry on its first two calls, then succeeds."""

    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = 2

    def do(self) -> None:
        if self.left:
            self.left -= 1
            raise RetryTask


def _sleep_adjusted(n: int, workers: int) -> Trial:
    """The ideal with what one ``time.sleep(0.001)`` really takes here, timed in one thread."""

    def trial() -> float:
        started = time.perf_counter()
        for _ in range(SLEEP_PROBES):
            sleep_1ms()
        return (time.perf_counter() - started) / SLEEP_PROBES * n / workers

    return trial


def _retrying(make: Factory, n: int) -> Trial:
    def trial() -> float:
        tasks = [Flaky() for _ in range(n)]
        with running(make, WORKERS, n) as (pool, done):
            # TasQ takes the Task object itself; the others get its bound method.
            enqueue = pool.enqueue_retrying if isinstance(pool, Executor) else pool.enqueue
            args: list[Any] = tasks if isinstance(pool, TasQ) else [task.do for task in tasks]
            started = time.perf_counter()
            for arg in args:
                enqueue(arg)
            done.wait()
            return time.perf_counter() - started

    return trial


def _tasq_log(level: int) -> contextlib.AbstractContextManager[None]:
    """Retries log at WARNING: send them nowhere (or drop them below ``level``)."""
    return tasq_log(level, logging.NullHandler())


def bench_retry(n: int, repetitions: int) -> list[Result]:
    def quiet(trial: Trial) -> Trial:
        def run() -> float:
            with _tasq_log(logging.ERROR):
                return trial()

        return run

    with _tasq_log(logging.WARNING):
        samples = measure_warm(
            {
                FLOOR: _retrying(floor_pool, n),
                TASQ: _retrying(tasq_pool(max_retry=3, retry_delay=0), n),
                TASQ_QUIET: quiet(_retrying(tasq_pool(max_retry=3, retry_delay=0), n)),
                TPE: _retrying(executor_pool, n),
            },
            repetitions,
            per=n,
        )
    group = f"{RETRY} (N={n:,}, 3 calls each)"
    return [
        row(group, samples, FLOOR, FLOOR),
        row(group, samples, TASQ, FLOOR, note="2 WARNING records per task, to a NullHandler"),
        row(group, samples, TASQ_QUIET, FLOOR, note="tasq logger at ERROR"),
        row(group, samples, TPE, FLOOR, note="a new submit per attempt"),
    ]


def bench_sleep(n: int, workers: int, repetitions: int) -> list[Result]:
    samples = measure_warm(
        {
            SLEEP_ADJUSTED: _sleep_adjusted(n, workers),
            FLOOR: end_to_end(floor_pool, n, sleep_1ms, workers),
            TASQ: end_to_end(tasq_pool(), n, sleep_1ms, workers),
            TPE: end_to_end(executor_pool, n, sleep_1ms, workers),
        },
        repetitions,
        per=n,
    )
    samples[IDEAL] = [1e6 / workers] * repetitions  # ns per task: N x 1 ms / workers, over N
    group = f"{SLEEP.format(workers)} (N={n:,})"
    # The target is set at 64 workers; 16 workers is shown for the trend.
    target, met = ("<= 1.15x ideal", paired_ratio(samples, TASQ, IDEAL) <= 1.15) if workers == 64 else ("", None)
    floor, slept = paired_ratio(samples, TASQ, FLOOR), paired_ratio(samples, TASQ, SLEEP_ADJUSTED)
    return [
        row(group, samples, IDEAL, IDEAL),
        row(group, samples, SLEEP_ADJUSTED, IDEAL, note="one time.sleep(0.001) takes longer than 1 ms"),
        row(group, samples, FLOOR, IDEAL),
        row(
            group,
            samples,
            TASQ,
            IDEAL,
            target=target,
            met=met,
            note=f"{floor:.2f}x floor, {slept:.2f}x measured-sleep ideal",
        ),
        row(group, samples, TPE, IDEAL),
    ]
