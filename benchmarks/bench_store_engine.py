"""Durable store, the engine as a user runs it: ``TasQ(store=...)`` with ``store_sync`` normal
and full, beside TasQ in memory, huey's ``SqliteHuey`` with its thread consumer,
persist-queue's ``SQLiteAckQueue`` with consumer threads, django-tasks-db with its
``db_worker``, and raw ``sqlite3`` (one INSERT per commit; batches of 100) as the floor.

End to end is N no-op ``@background`` tasks from 8 producer threads to the last recorded
done (``on_done``, which a store engine calls after the outcome's commit). Accepting
(``enqueue_many`` of 1,000, one producer's ``enqueue``, 8 producers) is measured on an
engine that is not started, so that the figure is the enqueue and its commit, not the
workers' CPU. Recovery: a child process stores 10,000 tasks and is killed with SIGKILL; a
new engine on the same file is started and timed to its first task and to its last.
Every contender writes a real file (WAL, ``synchronous=NORMAL`` unless ``full``) in a fresh
temporary directory per repetition. The slow peers run fewer tasks; every figure is per
task, so rows compare though their N differ.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks import bench_store, store_peers
from benchmarks.common import Countdown, Result, Trial, measure, median, per_second, quiet, row
from tasq import TasQ, background

END_TO_END = "store engine: end to end, 8 producer threads, no-op @background tasks to the last recorded done"
MANY = "store engine: enqueue_many of 1,000 at a time (engine not started)"
ONE = "store engine: one producer thread, one enqueue at a time (engine not started)"
EIGHT = "store engine: 8 producer threads enqueueing at once (engine not started)"
FIRST = "store engine: recovery, the pending tasks of a SIGKILLed process: start() to the first one starting"
RECOVERY = "store engine: recovery, the pending tasks of a SIGKILLed process: start() to the last one done"

NORMAL = "TasQ store, store_sync=normal"
FULL = "TasQ store, store_sync=full"
MEMORY = "TasQ in memory"
HUEY = bench_store.HUEY
PERSIST = bench_store.PERSIST
DJANGO = bench_store.DJANGO
RAW = "raw sqlite3: one INSERT per commit"
RAW_E2E = "raw sqlite3: one INSERT per commit, 4 threads claiming 10 per UPDATE ... RETURNING"
RAW_100 = "raw sqlite3: executemany, 100 per commit"
HUEY_ENQUEUE = "huey SqliteHuey: enqueue (no consumer)"
PERSIST_PUT = "persist-queue SQLiteAckQueue: put (no consumer)"

BACKLOG = 10_000  # tasks the killed process leaves in the store
WAIT = 300.0  # seconds: a contender that has not finished by then is broken, not slow
ROOT = Path(__file__).resolve().parent.parent


@background
def noop() -> None:
    pass


_first_run: list[float] = []  # perf_counter() of recovered()'s first call in this process


@background
def recovered() -> None:
    if not _first_run:
        _first_run.append(time.perf_counter())


def url(directory: Path) -> str:
    return f"sqlite:///{directory / 'tasq.db'}"


def engine(sync: str | None, directory: Path, **options: object) -> TasQ:
    """A store engine on a new file in ``directory`` (``sync``), or one in memory (None)."""
    if sync is None:
        return TasQ(name="bench", **options)  # type: ignore[arg-type]
    return TasQ(name="bench", store=url(directory), store_sync=sync, **options)  # type: ignore[arg-type]


# -- end to end ------------------------------------------------------------------------------


def end_to_end(sync: str | None, n: int) -> float:
    with bench_store.scratch() as directory:
        countdown = Countdown(n)
        tq = engine(sync, directory, on_done=countdown)
        tq.start()  # the file opened and the workers up before the clock starts
        try:
            began = time.perf_counter()
            store_peers.produce(n, lambda: tq.enqueue(noop.task()))
            countdown.wait()
            return time.perf_counter() - began
        finally:
            tq.close()


def raw_end_to_end(n: int) -> float:
    """The floor: 8 producers insert one row per commit (one shared connection, as SQLite
    takes one writer at a time), 4 threads claim ten at a time and mark them done."""
    with bench_store.scratch() as directory:
        producer, lock = bench_store.raw(directory), threading.Lock()
        consumers = [bench_store.raw(directory) for _ in range(store_peers.CONSUMERS)]
        countdown = Countdown(n)

        def send() -> None:
            with lock:
                producer.execute("INSERT INTO q (name, args, state) VALUES ('noop', '[]', 0)")

        def consume(connection: sqlite3.Connection) -> None:
            while not countdown.finished.is_set():
                connection.execute("BEGIN IMMEDIATE")
                ids = connection.execute(bench_store._CLAIM_RAW, (10,)).fetchall()
                connection.execute("COMMIT")
                if not ids:
                    time.sleep(0.001)
                    continue
                connection.execute("BEGIN IMMEDIATE")
                connection.executemany("UPDATE q SET state = 2 WHERE id = ?", ids)
                connection.execute("COMMIT")
                for (task_id,) in ids:
                    countdown(task_id)

        threads = [threading.Thread(target=consume, args=(c,)) for c in consumers]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        try:
            store_peers.produce(n, send)
            countdown.wait()
            return time.perf_counter() - began
        finally:
            countdown.finished.set()
            for thread in threads:
                thread.join()
            for connection in [producer, *consumers]:
                connection.close()


# -- accepting -------------------------------------------------------------------------------


def enqueue_many(sync: str | None, n: int) -> float:
    with bench_store.scratch() as directory:
        tq = engine(sync, directory, autostart=False)
        tq.enqueue(noop.task())  # the file made before the clock starts
        try:
            batch = [noop.task() for _ in range(1000)]
            began = time.perf_counter()
            for _ in range(n // 1000):
                tq.enqueue_many(batch)
            return time.perf_counter() - began
        finally:
            tq.close(wait=False)


def one_producer(sync: str | None, n: int) -> float:
    """The median of ``n`` single enqueues, in seconds, times ``n`` (``measure`` divides)."""
    with bench_store.scratch() as directory:
        tq = engine(sync, directory, autostart=False)
        tq.enqueue(noop.task())  # the file made before the clock starts
        try:
            clock, times = time.perf_counter_ns, []
            for _ in range(n):
                began = clock()
                tq.enqueue(noop.task())
                times.append(clock() - began)
            return statistics.median(times) * n / 1e9
        finally:
            tq.close(wait=False)


def eight_producers(sync: str | None, n: int) -> float:
    with bench_store.scratch() as directory:
        tq = engine(sync, directory, autostart=False)
        tq.enqueue(noop.task())  # the file made before the clock starts
        try:
            return bench_store.threads(8, lambda _: [tq.enqueue(noop.task()) for _ in range(n // 8)])
        finally:
            tq.close(wait=False)


# -- recovery --------------------------------------------------------------------------------

_KILLED = """
import os, signal, sys
from tasq import TasQ
from benchmarks.bench_store_engine import recovered
tq = TasQ(name="bench", store=sys.argv[1], store_sync=sys.argv[2], autostart=False)
for _ in range(int(sys.argv[3]) // 1000):
    tq.enqueue_many([recovered.task() for _ in range(1000)])
os.kill(os.getpid(), signal.SIGKILL)
"""


def recovery(sync: str, n: int = BACKLOG) -> tuple[float, float]:
    """Seconds from ``start()`` to the first task starting, and to the last done."""
    with tempfile.TemporaryDirectory(prefix="tasq-bench-recovery-") as tmp:
        store = url(Path(tmp))
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        killed = subprocess.run([sys.executable, "-c", _KILLED, store, sync, str(n)], cwd=ROOT, env=env, timeout=WAIT)
        if killed.returncode != -9:
            raise RuntimeError(f"the process that stored the backlog ended with {killed.returncode}, not SIGKILL")
        _first_run.clear()
        countdown = Countdown(n)
        tq = TasQ(name="bench", store=store, store_sync=sync, on_done=countdown)  # type: ignore[arg-type]
        try:
            began = time.perf_counter()
            tq.start()
            countdown.wait()
            ended = time.perf_counter()
        finally:
            tq.close()
        if not _first_run:
            raise RuntimeError("no recovered task ran in this process")
        return _first_run[0] - began, ended - began


# -- groups ----------------------------------------------------------------------------------


def bench_end_to_end(n: int, peers_n: int, repetitions: int) -> list[Result]:
    n = n // 8 * 8

    def scaled(trial: Callable[[int], float], count: int) -> Trial:
        return lambda: trial(count) * peers_n / count  # measure() divides by peers_n

    trials: dict[str, Trial] = {
        RAW_E2E: scaled(raw_end_to_end, n),
        NORMAL: scaled(lambda k: end_to_end("normal", k), n),
        FULL: scaled(lambda k: end_to_end("full", k), max(8, n // 80 * 8)),
        MEMORY: scaled(lambda k: end_to_end(None, k), n),
        HUEY: scaled(store_peers.huey_end_to_end, peers_n),
        PERSIST: scaled(store_peers.persist_queue_end_to_end, peers_n),
        DJANGO: scaled(store_peers.django_tasks_db_end_to_end, peers_n),
    }
    samples = measure(trials, repetitions, per=peers_n)
    group = f"{END_TO_END} (N={n:,}; {max(8, n // 80 * 8):,} for full, {peers_n:,} for the peers)"
    rate = 1e9 / median(samples[NORMAL])
    best_peer = min(median(samples[name]) for name in (HUEY, PERSIST, DJANGO))
    times_peer = best_peer / median(samples[NORMAL])
    return [
        row(group, samples, RAW_E2E, RAW_E2E, note=per_second(samples, RAW_E2E)),
        row(
            group,
            samples,
            NORMAL,
            RAW_E2E,
            target=">= 20,000/s and >= 15x the best peer",
            met=rate >= 20_000 and times_peer >= 15,
            note=f"{rate:,.0f} tasks/s; {times_peer:.1f}x the best peer",
        ),
        row(group, samples, FULL, RAW_E2E, note=f"{per_second(samples, FULL)}; an fsync per commit"),
        row(group, samples, MEMORY, RAW_E2E, note=f"{per_second(samples, MEMORY)}; lost at a SIGKILL"),
        row(group, samples, HUEY, RAW_E2E, note=f"{per_second(samples, HUEY)}; deletes the row at dequeue"),
        row(group, samples, PERSIST, RAW_E2E, note=per_second(samples, PERSIST)),
        row(group, samples, DJANGO, RAW_E2E, note=f"{per_second(samples, DJANGO)}; worker in its own process"),
    ]


def bench_accepting(n: int, peers_n: int, repetitions: int) -> list[Result]:
    batch = max(1000, n // 1000 * 1000)
    samples = measure(
        {
            RAW_100: lambda: bench_store.batch_raw(batch),
            NORMAL: lambda: enqueue_many("normal", batch),
            FULL: lambda: enqueue_many("full", batch),
            MEMORY: lambda: enqueue_many(None, batch),
        },
        repetitions,
        per=batch,
    )
    group = f"{MANY} (N={batch:,})"
    rate = 1e9 / median(samples[NORMAL])
    rows = [
        row(group, samples, RAW_100, RAW_100, note=per_second(samples, RAW_100)),
        row(group, samples, NORMAL, RAW_100, target=">= 100,000/s", met=rate >= 100_000, note=f"{rate:,.0f} tasks/s"),
        row(group, samples, FULL, RAW_100, note=per_second(samples, FULL)),
        row(group, samples, MEMORY, RAW_100, note=per_second(samples, MEMORY)),
    ]

    def scaled(trial: Callable[[int], float], count: int) -> Trial:
        return lambda: trial(count) * n / count

    samples = measure(
        {
            RAW: lambda: bench_store.one_raw(n),
            NORMAL: lambda: one_producer("normal", n),
            FULL: scaled(lambda k: one_producer("full", k), max(1, n // 10)),
            MEMORY: lambda: one_producer(None, n),
            HUEY_ENQUEUE: scaled(lambda k: store_peers.huey_enqueue(k, 1), peers_n),
            PERSIST_PUT: scaled(lambda k: store_peers.persist_queue_enqueue(k, 1), peers_n),
        },
        repetitions,
        per=n,
    )
    group = f"{ONE} (N={n:,}; N/10 for full, {peers_n:,} for the peers)"
    one = median(samples[NORMAL])
    rows += [
        row(group, samples, RAW, RAW, note=per_second(samples, RAW) + "; mean, not median"),
        row(group, samples, NORMAL, RAW, target="<= 60 us", met=one <= 60_000, note=f"median {one / 1000:.1f} µs"),
        row(group, samples, FULL, RAW, note=f"median {median(samples[FULL]) / 1000:.1f} µs; an fsync per commit"),
        row(group, samples, MEMORY, RAW, note=f"median {median(samples[MEMORY]) / 1000:.1f} µs"),
        row(group, samples, HUEY_ENQUEUE, RAW, note=per_second(samples, HUEY_ENQUEUE) + "; mean"),
        row(group, samples, PERSIST_PUT, RAW, note=per_second(samples, PERSIST_PUT) + "; mean"),
    ]
    eight = n // 8 * 8
    samples = measure(
        {
            RAW: lambda: bench_store.eight_raw(eight),
            NORMAL: lambda: eight_producers("normal", eight),
            FULL: scaled(lambda k: eight_producers("full", k), max(8, n // 80 * 8)),
            MEMORY: lambda: eight_producers(None, eight),
            HUEY_ENQUEUE: scaled(lambda k: store_peers.huey_enqueue(k, 8), peers_n),
            PERSIST_PUT: scaled(lambda k: store_peers.persist_queue_enqueue(k, 8), peers_n),
        },
        repetitions,
        per=eight,
    )
    group = f"{EIGHT} (N={eight:,}; N/10 for full, {peers_n:,} for the peers)"
    rate = 1e9 / median(samples[NORMAL])
    rows += [
        row(group, samples, RAW, RAW, note=per_second(samples, RAW) + "; one shared connection"),
        row(group, samples, NORMAL, RAW, target=">= 30,000/s", met=rate >= 30_000, note=f"{rate:,.0f} tasks/s"),
        *(
            row(group, samples, name, RAW, note=per_second(samples, name))
            for name in (FULL, MEMORY, HUEY_ENQUEUE, PERSIST_PUT)
        ),
    ]
    return rows


def bench_recovery(backlog: int, repetitions: int) -> list[Result]:
    first: dict[str, list[float]] = {NORMAL: [], FULL: []}
    whole: dict[str, list[float]] = {NORMAL: [], FULL: []}
    for _ in range(repetitions):
        for sync, name in (("normal", NORMAL), ("full", FULL)):
            to_first, to_last = recovery(sync, backlog)
            first[name].append(to_first * 1e3)  # ms
            whole[name].append(to_last / backlog * 1e9)  # ns per task
    group = f"{FIRST} (N={backlog:,} pending)"
    to_first = median(first[NORMAL])
    rows = [
        row(group, first, NORMAL, NORMAL, unit="ms", target="<= 1,000 ms", met=to_first <= 1000),
        row(group, first, FULL, NORMAL, unit="ms"),
    ]
    group = f"{RECOVERY} (N={backlog:,} pending)"
    rows += [row(group, whole, name, NORMAL, note=per_second(whole, name)) for name in (NORMAL, FULL)]
    return rows


def run(quick: bool, *, n: int | None = None, repetitions: int | None = None) -> list[Result]:
    """``quick``: small N and few repetitions (a smoke run); ``n``/``repetitions`` override."""
    n = n or (2_000 if quick else 100_000)
    reps = repetitions or (2 if quick else 3)
    peers_n = max(8, n // 100)
    backlog = BACKLOG if n >= BACKLOG else max(1000, n // 1000 * 1000)
    with quiet():  # not a line per engine closed on the tasks it never started
        return [
            *bench_end_to_end(n, peers_n, reps),
            *bench_accepting(n, peers_n, reps),
            *bench_recovery(backlog, reps),
        ]


if __name__ == "__main__":
    # Through its module name, as the recovered tasks are found by it (not as __main__).
    from benchmarks import bench_store_engine
    from benchmarks.report import print_tables

    print_tables(bench_store_engine.run(quick="--quick" in sys.argv))
