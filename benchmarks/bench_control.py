"""Task control on the thread engine: what one ``cancel`` and one ``retry`` cost, beside one
``enqueue``.

Every call is timed alone (``perf_counter_ns`` around it) with the engine's workers busy, so
the queue holds what the row says: ``cancel`` pays O(tasks pending) for a task in the ready
queue (it takes the task out), O(tasks delayed) for a delayed one, and a worker pays nothing.
The baseline is ``enqueue`` of a no-op on the same engine (``results=10_000``, as ``retry``
needs). A ``cancel`` that answers False (the task finished) is the cheapest: it looks up.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator

from benchmarks.common import Result, row
from tasq import TasQ

GROUP = "control: one call (thread engine, workers busy, {:,} pending)"
ENQUEUE = "enqueue (a no-op)"
CANCEL_QUEUED = "cancel, task in the ready queue"
CANCEL_DELAYED = "cancel, task delayed"
CANCEL_FINISHED = "cancel, task finished (False)"
RETRY = "retry, task failed"
UNIT = "ns/call"
PENDING = 100  # tasks already queued (or delayed) behind each call
WORKERS = 2


def noop() -> None:
    pass


def fail() -> None:
    raise ValueError("on purpose")


@contextlib.contextmanager
def busy_engine() -> Iterator[TasQ]:
    """An engine whose workers wait on a gate, with ``PENDING`` tasks queued and delayed."""
    engine = TasQ(workers=WORKERS, results=10_000, name="bench-control")
    started, gate = threading.Semaphore(0), threading.Event()

    def hold() -> None:
        started.release()
        gate.wait(300)

    engine.start()
    for _ in range(WORKERS):
        engine.submit(hold)
    for _ in range(WORKERS):
        started.acquire(timeout=300)
    for _ in range(PENDING):
        engine.submit(noop)
        engine.enqueue(noop, delay=3600)
    try:
        yield engine
    finally:
        gate.set()
        engine.close(timeout=30, cancel_pending=True)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    log = logging.getLogger("tasq")
    saved = log.level, log.propagate, log.handlers[:]
    log.setLevel(logging.CRITICAL)
    log.propagate = False
    log.handlers[:] = [logging.NullHandler()]
    try:
        yield
    finally:
        log.setLevel(saved[0])
        log.propagate = saved[1]
        log.handlers[:] = saved[2]


def timed_calls(n: int, prepare: Callable[[TasQ], int], call: Callable[[TasQ, int], object]) -> float:
    """ns per call over ``n`` calls, each timed alone."""
    total = 0
    with busy_engine() as engine:
        for _ in range(n):
            task_id = prepare(engine)
            started = time.perf_counter_ns()
            call(engine, task_id)
            total += time.perf_counter_ns() - started
    return total / n


def failed_ids(engine: TasQ, n: int) -> list[int]:
    ids = [engine.submit(fail) for _ in range(n)]
    engine.join(60)
    return ids


def retry_cost(n: int) -> float:
    engine = TasQ(workers=WORKERS, results=10_000, name="bench-control-retry")
    engine.start()
    try:
        ids = failed_ids(engine, n)
        total = 0
        for task_id in ids:
            started = time.perf_counter_ns()
            engine.retry(task_id)
            total += time.perf_counter_ns() - started
        engine.join(60)
        return total / n
    finally:
        engine.close(timeout=30)


def cancel(engine: TasQ, task_id: int) -> bool:
    return engine.cancel(task_id)


def finished_id(engine: TasQ) -> int:
    return 1  # the first gate task: running, never pending, so cancel looks and answers False


def run(quick: bool, *, n: int | None = None, repetitions: int | None = None) -> list[Result]:
    n = n or (1_000 if quick else 10_000)
    reps = repetitions or (3 if quick else 7)
    trials: dict[str, Callable[[], float]] = {
        ENQUEUE: lambda: timed_calls(n, lambda engine: 0, lambda engine, _: engine.submit(noop)),
        CANCEL_QUEUED: lambda: timed_calls(n, lambda engine: engine.submit(noop), cancel),
        CANCEL_DELAYED: lambda: timed_calls(n, lambda engine: engine.enqueue(noop, delay=3600), cancel),
        CANCEL_FINISHED: lambda: timed_calls(n, finished_id, cancel),
        RETRY: lambda: retry_cost(n),
    }
    samples: dict[str, list[float]] = {name: [] for name in trials}
    with quiet():
        for _ in range(reps):
            for name, trial in trials.items():
                samples[name].append(trial())
    group = GROUP.format(PENDING)
    return [row(group, samples, name, ENQUEUE, unit=UNIT) for name in trials]


if __name__ == "__main__":
    import sys

    from benchmarks.report import print_tables

    print_tables(run(quick="--quick" in sys.argv))
