"""Durable store: what TasQ's SQLite journal costs, beside raw ``sqlite3`` (the floor) and the
durable queues people use (huey's SQLite storage, persist-queue, django-tasks-db).

Every contender writes a real file in WAL mode with ``synchronous=NORMAL`` (a commit survives
a process crash), in a fresh temporary directory per repetition. The journal is measured on
its own here (no engine): what accepting a task costs with one producer and with eight
(group commit, and the writer thread it was chosen over), a batch of 1,000, claiming and
finishing a backlog, and end to end beside the peers.
"""

from __future__ import annotations

import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks import store_peers
from benchmarks.common import Result, Trial, measure, median, row
from benchmarks.store_writer import WriterThread
from tasq.store import Journal, NewTask, Outcome
from tasq.store.writes import rows_of

ONE = "store: one producer thread, one committed enqueue at a time"
EIGHT = "store: 8 producer threads enqueueing at once"
BATCH = "store: accepting tasks in batches"
DRAIN = "store: 4 threads claiming and finishing a backlog"
END_TO_END = "store: end to end, 8 producer threads, 4 consumer threads, no-op tasks"

RAW = "raw sqlite3: one INSERT per commit"
RAW_LOCKED = "raw sqlite3: one INSERT per commit, one shared connection"
RAW_100 = "raw sqlite3: executemany, 100 per commit"
RAW_CLAIM = "raw sqlite3: UPDATE ... RETURNING one row per claim"
RAW_CLAIM_10 = "raw sqlite3: UPDATE ... RETURNING ten rows per claim"
JOURNAL = "TasQ journal: add()"
JOURNAL_FULL = "TasQ journal: add(), store_sync=full"
JOURNAL_GROUP = "TasQ journal: add(), group commit (leader-follower)"
JOURNAL_WRITER = "journal rows through a writer thread (not chosen)"
JOURNAL_MANY = "TasQ journal: add_many(), 1,000 per call"
JOURNAL_DRAIN = "TasQ journal: claim(10) + finish()"
JOURNAL_E2E = "TasQ journal: add() + claim(10) + finish()"
HUEY = "huey SqliteHuey + thread consumer"
PERSIST = "persist-queue SQLiteAckQueue + consumer threads"
DJANGO = "django-tasks-db + db_worker"

TASK = NewTask(engine="default", name="benchmarks.tasks.noop", args=[1])
SCHEMA = "CREATE TABLE q (id INTEGER PRIMARY KEY, name TEXT NOT NULL, args TEXT NOT NULL, state INTEGER DEFAULT 0)"


@contextmanager
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="tasq-bench-store-") as tmp:
        yield Path(tmp)


def journal(directory: Path, sync: str = "normal") -> Journal:
    store = Journal(f"sqlite:///{directory / 'tasq.db'}", sync=sync)  # type: ignore[arg-type]
    store.open()
    return store


def raw(directory: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(directory / "raw.db", isolation_level=None, check_same_thread=False, timeout=30)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute("CREATE TABLE IF NOT EXISTS q (id INTEGER PRIMARY KEY, name TEXT, args TEXT, state INTEGER)")
    return connection


def threads(count: int, work: Callable[[int], object]) -> float:
    """``work(i)`` in ``count`` threads started together: seconds until the last ends."""
    start = threading.Barrier(count + 1)

    def run(i: int) -> None:
        start.wait()
        work(i)

    pool = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in pool:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in pool:
        thread.join()
    return time.perf_counter() - began


# -- accepting -------------------------------------------------------------------------------


def one_raw(n: int) -> float:
    with scratch() as directory:
        connection = raw(directory)
        began = time.perf_counter()
        for i in range(n):
            connection.execute("INSERT INTO q (name, args, state) VALUES (?, ?, 0)", ("noop", f"[{i}]"))
        took = time.perf_counter() - began
        connection.close()
        return took


def one_journal(n: int, sync: str = "normal") -> float:
    with scratch() as directory:
        store = journal(directory, sync)
        began = time.perf_counter()
        for _ in range(n):
            store.add([TASK])
        took = time.perf_counter() - began
        store.close()
        return took


def eight_raw(n: int) -> float:
    with scratch() as directory:
        connection, lock = raw(directory), threading.Lock()

        def work(_: int) -> None:
            for i in range(n // 8):
                with lock:
                    connection.execute("INSERT INTO q (name, args, state) VALUES (?, ?, 0)", ("noop", f"[{i}]"))

        took = threads(8, work)
        connection.close()
        return took


def eight_journal(n: int, writer_thread: bool = False) -> float:
    with scratch() as directory:
        store = journal(directory)
        writer = WriterThread(store) if writer_thread else None

        def work(_: int) -> None:
            for _ in range(n // 8):
                if writer is None:
                    store.add([TASK])
                else:
                    writer.submit(rows_of([TASK], None, 30.0))

        took = threads(8, work)
        if writer is not None:
            writer.close()
        store.close()
        return took


def batch_raw(n: int) -> float:
    with scratch() as directory:
        connection = raw(directory)
        rows = [("noop", f"[{i}]") for i in range(100)]
        began = time.perf_counter()
        for _ in range(n // 100):
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany("INSERT INTO q (name, args, state) VALUES (?, ?, 0)", rows)
            connection.execute("COMMIT")
        took = time.perf_counter() - began
        connection.close()
        return took


def batch_journal(n: int) -> float:
    with scratch() as directory:
        store = journal(directory)
        tasks = [NewTask(engine="default", name="benchmarks.tasks.noop", args=[i]) for i in range(1000)]
        began = time.perf_counter()
        for _ in range(max(1, n // 1000)):
            store.add_many(tasks)
        took = time.perf_counter() - began
        store.close()
        return took * n / (max(1, n // 1000) * 1000)


# -- running ---------------------------------------------------------------------------------

_CLAIM_RAW = "UPDATE q SET state = 1 WHERE id IN (SELECT id FROM q WHERE state = 0 ORDER BY id LIMIT ?) RETURNING id"


def drain_raw(n: int, per_claim: int) -> float:
    with scratch() as directory:
        setup = raw(directory)
        setup.execute("BEGIN")
        setup.executemany("INSERT INTO q (name, args, state) VALUES (?, ?, 0)", [("noop", "[]")] * n)
        setup.execute("COMMIT")
        connections = [raw(directory) for _ in range(4)]

        def work(i: int) -> None:
            connection = connections[i]
            while True:
                connection.execute("BEGIN IMMEDIATE")
                ids = connection.execute(_CLAIM_RAW, (per_claim,)).fetchall()
                connection.execute("COMMIT")
                if not ids:
                    return
                connection.execute("BEGIN IMMEDIATE")
                connection.executemany("UPDATE q SET state = 2 WHERE id = ?", ids)
                connection.execute("COMMIT")

        took = threads(4, work)
        for connection in [setup, *connections]:
            connection.close()
        return took


def drain_journal(n: int) -> float:
    with scratch() as directory:
        store = journal(directory)
        store.add_many([TASK] * n)

        def work(_: int) -> None:
            while rows := store.claim("default", store.owner, 10):
                store.finish(store.owner, [Outcome(task_id=r.id, attempt=r.attempt, state="done") for r in rows])

        took = threads(4, work)
        store.close()
        return took


def end_to_end_journal(n: int) -> float:
    """8 producers add one at a time while 4 consumers claim 10 and finish, until all are done."""
    producers, consumers = store_peers.PRODUCERS, store_peers.CONSUMERS
    with scratch() as directory:
        store = journal(directory)
        each = n // producers
        left = [each * producers]
        lock = threading.Lock()

        def consume() -> None:
            while left[0] > 0:
                rows = store.claim("default", store.owner, 10)
                if not rows:
                    time.sleep(0.001)  # idle: where an engine would wait for its next poll
                    continue
                store.finish(store.owner, [Outcome(task_id=r.id, attempt=r.attempt, state="done") for r in rows])
                with lock:
                    left[0] -= len(rows)

        def work(i: int) -> None:
            if i < consumers:
                consume()
                return
            for _ in range(each):
                store.add([TASK])

        took = threads(consumers + producers, work)
        store.close()
        return took


# -- groups ----------------------------------------------------------------------------------


def per_second(samples: dict[str, list[float]], name: str) -> str:
    return f"{1e9 / median(samples[name]):,.0f}/s"


def bench_accepting(n: int, repetitions: int) -> list[Result]:
    samples = measure(
        {
            RAW: lambda: one_raw(n),
            JOURNAL: lambda: one_journal(n),
            JOURNAL_FULL: lambda: one_journal(n // 10, "full") * 10,
        },
        repetitions,
        per=n,
    )
    group = f"{ONE} (N={n:,})"
    one = median(samples[JOURNAL])
    rows = [
        row(group, samples, RAW, RAW, note=per_second(samples, RAW)),
        row(group, samples, JOURNAL, RAW, target="<= 60 us", met=one <= 60_000, note=per_second(samples, JOURNAL)),
        row(group, samples, JOURNAL_FULL, RAW, note=f"{per_second(samples, JOURNAL_FULL)}; an fsync per commit; N/10"),
    ]
    samples = measure(
        {
            RAW_LOCKED: lambda: eight_raw(n),
            JOURNAL_GROUP: lambda: eight_journal(n),
            JOURNAL_WRITER: lambda: eight_journal(n, writer_thread=True),
        },
        repetitions,
        per=n // 8 * 8,
    )
    group = f"{EIGHT} (N={n // 8 * 8:,})"
    rate = 1e9 / median(samples[JOURNAL_GROUP])
    rows += [
        row(group, samples, RAW_LOCKED, RAW_LOCKED, note=per_second(samples, RAW_LOCKED)),
        row(group, samples, JOURNAL_GROUP, RAW_LOCKED, target=">= 30,000/s", met=rate >= 30_000, note=f"{rate:,.0f}/s"),
        row(group, samples, JOURNAL_WRITER, RAW_LOCKED, note=per_second(samples, JOURNAL_WRITER)),
    ]
    batch = max(1000, n // 1000 * 1000)
    samples = measure(
        {RAW_100: lambda: batch_raw(batch), JOURNAL_MANY: lambda: batch_journal(batch)}, repetitions, batch
    )
    group = f"{BATCH} (N={batch:,})"
    rows += [
        row(group, samples, RAW_100, RAW_100, note=per_second(samples, RAW_100)),
        row(group, samples, JOURNAL_MANY, RAW_100, note=per_second(samples, JOURNAL_MANY)),
    ]
    return rows


def bench_running(n: int, repetitions: int) -> list[Result]:
    samples = measure(
        {
            RAW_CLAIM: lambda: drain_raw(n, 1),
            RAW_CLAIM_10: lambda: drain_raw(n, 10),
            JOURNAL_DRAIN: lambda: drain_journal(n),
        },
        repetitions,
        per=n,
    )
    group = f"{DRAIN} (N={n:,})"
    return [row(group, samples, name, RAW_CLAIM_10, note=per_second(samples, name)) for name in samples]


def bench_end_to_end(n: int, peers_n: int, repetitions: int) -> list[Result]:
    """The journal beside the peers. The peers are slow: they run ``peers_n`` tasks, and
    every figure is per task, so the rows compare though their N differ."""
    trials: dict[str, Trial] = {
        JOURNAL_E2E: lambda: end_to_end_journal(n) * peers_n / (n // 8 * 8),
        HUEY: lambda: store_peers.huey_end_to_end(peers_n),
        PERSIST: lambda: store_peers.persist_queue_end_to_end(peers_n),
        DJANGO: lambda: store_peers.django_tasks_db_end_to_end(peers_n),
    }
    samples = measure(trials, repetitions, per=peers_n)
    group = f"{END_TO_END} (N={n:,} for the journal, {peers_n:,} for the peers)"
    best_peer = min(median(samples[name]) for name in (HUEY, PERSIST, DJANGO))
    return [
        row(
            group,
            samples,
            JOURNAL_E2E,
            HUEY,
            note=f"{per_second(samples, JOURNAL_E2E)}; {best_peer / median(samples[JOURNAL_E2E]):.1f}x the best peer",
        ),
        row(group, samples, HUEY, HUEY, note=f"{per_second(samples, HUEY)}; deletes the row at dequeue"),
        row(group, samples, PERSIST, HUEY, note=per_second(samples, PERSIST)),
        row(group, samples, DJANGO, HUEY, note=f"{per_second(samples, DJANGO)}; worker in its own process"),
    ]


def run(quick: bool, *, n: int | None = None, repetitions: int | None = None) -> list[Result]:
    """``quick``: small N and few repetitions (a smoke run); ``n``/``repetitions`` override."""
    n = n or (2_000 if quick else 20_000)
    reps = repetitions or (2 if quick else 5)
    peers_n = max(8, n // 10)
    return [*bench_accepting(n, reps), *bench_running(n, reps), *bench_end_to_end(n, peers_n, reps)]


if __name__ == "__main__":
    import sys

    from benchmarks.report import print_tables

    print_tables(run(quick="--quick" in sys.argv))
