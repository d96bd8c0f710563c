"""Periodic tasks: what an idle schedule costs. CPU of an engine with 100 schedules and no due slot.

The ticker sleeps until the next due slot in one ``Event.wait``, so 100 schedules that are not
due cost nothing between slots; the process that does not hold the schedule's file lock wakes
once a second to try it. Each contender is measured as the process's CPU time over a window
of wall time (10 s; 2 s with ``--quick``) while the main thread waits, after the engine has
started and run the start's catch-up of each schedule. The baseline is the same engine with no
schedule: what the engine's own idle threads cost.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable

from benchmarks.common import Result
from benchmarks.report import print_tables
from tasq import TasQ
from tasq.periodic import FileLock

GROUP = "periodic: CPU of an idle engine over {:g} s (µs of CPU per second: 10,000 = 1% of one core)"
BASELINE = "engine, no schedule"
HOLDER = "100 schedules, this process holds the lock"
WAITER = "100 schedules, another process holds the lock"
SCHEDULES = 100
TARGET = 0.5  # % of one core
UNIT = "µs CPU/s"


def noop() -> None:
    pass


def idle_engine(name: str, schedules: int) -> TasQ:
    engine = TasQ(name=name)
    for index in range(schedules):
        # Due once a day or once a year: none falls due during the window (the start runs
        # the catch-up of each, before the window).
        if index % 2:
            engine.periodic(every=86_400 + index, name=f"bench.daily{index}")(noop)
        else:
            engine.periodic(cron=f"{index % 60} 0 1 1 *", name=f"bench.yearly{index}")(noop)
    return engine


def cpu_percent(window: float, prepare: Callable[[], Callable[[], None]]) -> float:
    cleanup = prepare()
    try:
        threading.Event().wait(0.2)  # let the start's work finish
        cpu, wall = time.process_time(), time.monotonic()
        threading.Event().wait(window)
        return (time.process_time() - cpu) / (time.monotonic() - wall) * 1e6  # µs of CPU per second
    finally:
        cleanup()


def baseline() -> Callable[[], None]:
    engine = idle_engine("bench-baseline", 0)
    engine.start()
    return engine.close


def holder() -> Callable[[], None]:
    engine = idle_engine("bench-holder", SCHEDULES)
    engine.start()
    assert engine.join(10)
    return engine.close


def waiter() -> Callable[[], None]:
    other = FileLock("bench-waiter")  # its own open file: to flock, another process
    assert other.acquire()
    engine = idle_engine("bench-waiter", SCHEDULES)
    engine.start()

    def cleanup() -> None:
        engine.close()
        other.release()

    return cleanup


def percent(us_per_second: float) -> str:
    return f"{us_per_second / 10_000:.3f}% of a core"


def run(quick: bool, *, window: float | None = None) -> list[Result]:
    window = window or (2.0 if quick else 10.0)
    group = GROUP.format(window)
    with tempfile.TemporaryDirectory() as directory:
        os.environ["TASQ_PERIODIC_DIR"] = directory
        try:
            figures = {name: cpu_percent(window, prepare) for name, prepare in (
                (BASELINE, baseline), (HOLDER, holder), (WAITER, waiter),
            )}  # fmt: skip
        finally:
            del os.environ["TASQ_PERIODIC_DIR"]
    rows = [Result(group=group, name=BASELINE, ns=figures[BASELINE], unit=UNIT, note=percent(figures[BASELINE]))]
    for name in (HOLDER, WAITER):
        rows.append(
            Result(
                group=group,
                name=name,
                ns=figures[name],
                unit=UNIT,
                target=f"<= {TARGET}% of a core",
                met=figures[name] <= TARGET * 10_000,
                note=f"{percent(figures[name])}; {figures[name] - figures[BASELINE]:+,.0f} µs/s over the engine alone",
            )
        )
    return rows


if __name__ == "__main__":
    print_tables(run(quick="--quick" in sys.argv))
