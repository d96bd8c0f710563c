"""The engine against the floor pool (benchmarks/floor.py) and ThreadPoolExecutor: no-op
tasks end to end (also as a user's harness takes it: 4 workers, a locked countdown, beside
the floor with a record per task, the least ``results=10_000`` can cost), enqueue alone,
retries, 1 ms sleeping tasks at 16 and 64 workers, and memory per pending task.

Each group runs its contenders in turn, repetition after repetition (``measure``), and
reports the median of the paired ratios to the group's baseline, with their range.
Every contender gets the same task, the same counting done-callback and the same number
of workers (10, TasQ's default), started before the clock starts. The contenders and the
trials that time them are in benchmarks/engine_trials.py; the retry and sleeping-task
groups in benchmarks/engine_waits.py.

``results=10_000`` has a bound that its target (2x the floor) does not take into account:
no result store costs less than the floor's record per task (three clock reads, a dict
entry written at enqueue and over at the end, the oldest dropped), and TasQ's own work
per task (the default row's excess over the floor) is there with a store as without. The
end-to-end group measures both and gives their sum in the row's note; the same sum in
instructions is printed by ``python -m benchmarks.instructions results noop``.
"""

from __future__ import annotations

import time
import tracemalloc

from benchmarks.common import Result, Trial, median, paired_ratio, row
from benchmarks.engine_trials import (
    FLOOR,
    FLOOR_RECORDING,
    TASQ,
    TASQ_RESULTS,
    TPE,
    WORKERS,
    Executor,
    Factory,
    LockedCountdown,
    blocked,
    end_to_end,
    executor_pool,
    floor_pool,
    measure_warm,
    noop,
    recording_floor_pool,
    tasq_pool,
)
from benchmarks.engine_waits import bench_retry, bench_sleep

END_TO_END = "end to end: no-op tasks, enqueue to last on_done"
ENQUEUE = "enqueue alone (workers busy; CPU time of the enqueuing thread)"
MEMORY = "memory per pending task (tracemalloc)"
HARNESS = "end to end: no-op tasks, {} workers, a locked countdown callback"
HARNESS_WORKERS = 4


def _enqueue_only(make: Factory, n: int) -> Trial:
    # The enqueuing thread's own CPU time: with every worker blocked it is the whole cost,
    # and unlike wall time it does not grow when another process takes the core.
    def trial() -> float:
        with blocked(make, WORKERS, n) as (pool, _):
            enqueue = pool.enqueue
            started = time.thread_time()
            for _ in range(n):
                enqueue(noop)
            return time.thread_time() - started

    return trial


def _bytes_pending(make: Factory, n: int) -> float:
    with blocked(make, WORKERS, n) as (pool, _):
        enqueue = pool.enqueue
        keep = isinstance(pool, Executor)  # a user keeps the Future submit() returned
        futures: list[object] = []
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for _ in range(n):
                handle = enqueue(noop)
                if keep:
                    futures.append(handle)
            return (tracemalloc.get_traced_memory()[0] - before) / n
        finally:
            tracemalloc.stop()
            futures.clear()


def bench_end_to_end(n: int, repetitions: int) -> list[Result]:
    """No-op tasks, enqueue to last on_done. The floor with a record per task is here too:
    it and TasQ (default) bound TasQ (results=10_000) from below (see ``results_bound``)."""
    makers: dict[str, Factory] = {
        FLOOR: floor_pool,
        TASQ: tasq_pool(),
        TASQ_RESULTS: tasq_pool(results=10_000),
        FLOOR_RECORDING: recording_floor_pool,
        TPE: executor_pool,
    }
    cpu: dict[str, list[float]] = {name: [] for name in makers}
    trials = {name: end_to_end(make, n, cpu=cpu[name]) for name, make in makers.items()}
    samples = measure_warm(trials, repetitions, per=n)
    cpu = {name: seconds[-repetitions:] for name, seconds in cpu.items()}  # not the warm-up run

    def cpu_note(name: str) -> str:
        return f"CPU-time ratio {paired_ratio(cpu, name, FLOOR):.2f}x"

    group = f"{END_TO_END} (N={n:,})"
    tasq, with_results = paired_ratio(samples, TASQ, FLOOR), paired_ratio(samples, TASQ_RESULTS, FLOOR)
    faster = paired_ratio(samples, TPE, TASQ)
    return [
        row(group, samples, FLOOR, FLOOR),
        row(group, samples, TASQ, FLOOR, target="<= 1.3x floor", met=tasq <= 1.3, note=cpu_note(TASQ)),
        row(
            group,
            samples,
            TASQ_RESULTS,
            FLOOR,
            target="<= 2x floor",
            met=with_results <= 2.0,
            note=f"{cpu_note(TASQ_RESULTS)}; {results_bound(samples)}",
        ),
        row(group, samples, FLOOR_RECORDING, FLOOR, note="three clock reads and a record per task, nothing else"),
        row(
            group,
            samples,
            TPE,
            FLOOR,
            target="TasQ >= 8x faster",
            met=faster >= 8.0,
            note=f"TasQ (default) is {faster:.1f}x faster; {cpu_note(TPE)}",
        ),
    ]


def results_bound(samples: dict[str, list[float]]) -> str:
    """The least ``results=10_000`` can come to here: the floor with a record per task (the
    store's own work at its least), plus what TasQ adds to the floor without a store."""
    recording, tasq = paired_ratio(samples, FLOOR_RECORDING, FLOOR), paired_ratio(samples, TASQ, FLOOR)
    return (
        f"bound: {recording + tasq - 1:.2f}x, the floor with a record per task ({recording:.2f}x)"
        f" + what TasQ (default) adds to the floor ({tasq - 1:.2f}x)"
    )


def bench_harness(n: int, repetitions: int) -> list[Result]:
    """The same figure as a user's own harness takes it: fewer workers than the default, and
    a done-callback that counts under a lock."""
    makers: dict[str, Factory] = {
        FLOOR: floor_pool,
        TASQ: tasq_pool(),
        TASQ_RESULTS: tasq_pool(results=10_000),
        FLOOR_RECORDING: recording_floor_pool,
    }
    trials = {
        name: end_to_end(make, n, workers=HARNESS_WORKERS, countdown=LockedCountdown) for name, make in makers.items()
    }
    samples = measure_warm(trials, repetitions, per=n)
    group = f"{HARNESS.format(HARNESS_WORKERS)} (N={n:,})"
    tasq, with_results = paired_ratio(samples, TASQ, FLOOR), paired_ratio(samples, TASQ_RESULTS, FLOOR)
    over_bound = paired_ratio(samples, TASQ_RESULTS, FLOOR_RECORDING)
    return [
        row(group, samples, FLOOR, FLOOR),
        row(group, samples, TASQ, FLOOR, target="<= 1.2x floor", met=tasq <= 1.2),
        row(
            group,
            samples,
            TASQ_RESULTS,
            FLOOR,
            target="<= 2x floor",
            met=with_results <= 2.0,
            note=f"{over_bound:.2f}x the floor with a record per task",
        ),
        row(group, samples, FLOOR_RECORDING, FLOOR, note="three clock reads and a record per task, nothing else"),
    ]


def bench_enqueue(n: int, repetitions: int) -> list[Result]:
    samples = measure_warm(
        {
            FLOOR: _enqueue_only(floor_pool, n),
            TASQ: _enqueue_only(tasq_pool(), n),
            TASQ_RESULTS: _enqueue_only(tasq_pool(results=10_000), n),
            TPE: _enqueue_only(executor_pool, n),
        },
        repetitions,
        per=n,
    )
    group = f"{ENQUEUE} (N={n:,})"
    return [
        row(group, samples, FLOOR, FLOOR),
        row(group, samples, TASQ, FLOOR, target="<= 1000 ns", met=median(samples[TASQ]) <= 1000),
        row(group, samples, TASQ_RESULTS, FLOOR),
        row(group, samples, TPE, FLOOR, note="submit + add_done_callback"),
    ]


def bench_memory(n: int, repetitions: int) -> list[Result]:
    contenders: dict[str, Factory] = {
        FLOOR: floor_pool,
        TASQ: tasq_pool(),
        TASQ_RESULTS: tasq_pool(results=10_000),
        TPE: executor_pool,
    }
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repetitions):
        for name, make in contenders.items():
            samples[name].append(_bytes_pending(make, n))
    group = f"{MEMORY} (N={n:,} pending)"
    tasq = median(samples[TASQ])
    return [
        row(group, samples, FLOOR, FLOOR, unit="B/task"),
        row(group, samples, TASQ, FLOOR, unit="B/task", target="<= 300 B", met=tasq <= 300),
        row(group, samples, TASQ_RESULTS, FLOOR, unit="B/task", note="+ enqueued_at per pending task"),
        row(group, samples, TPE, FLOOR, unit="B/task", note="work item + Future each"),
    ]


def run(quick: bool, *, n: int | None = None, repetitions: int | None = None) -> list[Result]:
    """``quick``: small N and few repetitions (a smoke run); ``n``/``repetitions`` override."""
    n = n or (10_000 if quick else 100_000)
    reps = repetitions or (3 if quick else 11)
    # 1 ms tasks: a multiple of 64, so every worker runs as many (3,200 in a full run: 50 ms
    # ideal at 64 workers, 200 ms at 16).
    sleeping = max(64, n // 2_000 * 64)
    return [
        *bench_end_to_end(n, reps),
        *bench_harness(n, 3 if quick else 7),
        *bench_enqueue(n, reps),
        *bench_retry(max(1, n // 5), reps),
        *bench_sleep(sleeping, 16, reps),
        *bench_sleep(sleeping, 64, reps),
        *bench_memory(n, 1 if quick else 3),
    ]


if __name__ == "__main__":
    import sys

    from benchmarks.report import print_tables

    print_tables(run(quick="--quick" in sys.argv))
