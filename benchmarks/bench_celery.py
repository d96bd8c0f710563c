"""Scale-out on Celery: what sending a task through TasQ to Celery workers costs, against
Celery used bare, on the same Redis.

Three groups, as for Dramatiq: enqueue alone (nothing consumes meanwhile); end to end (a
worker process runs while N tasks are sent, until the last is done); and what one worker
process sustains when it drains a backlog (timed from its first finished task to its last).
Worker processes are real: ``tasq worker --backend celery`` for TasQ, ``celery worker`` for
the peer, one process of 8 threads each (Celery's threads pool). The peer runs with TasQ's
delivery settings (acks after the task, one message per thread): the ratio is TasQ's layer;
a second peer row shows Celery's own defaults (acks on receipt, four messages per thread).
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from benchmarks.common import (
    THREADS,
    Result,
    WorkerProcess,
    drain,
    enqueuing,
    enqueuing_and_joining,
    measure,
    per_second,
    quiet,
    row,
    skipped,
    tasq_worker_command,
    up,
    wait_until,
)
from tasq import TasQ

ENQUEUE = "celery: enqueue alone (a @background call, nothing consuming)"
END_TO_END = "celery: end to end, one worker process (8 threads): send N no-op tasks, wait for the last"
SUSTAINED = "celery: one worker process (8 threads) draining a backlog of no-op tasks"

IN_PROCESS = "TasQ in-process (thread engine)"
TASQ_REDIS = "TasQ -> Celery/Redis"
PEER_REDIS = "Celery bare: apply_async -> Redis (acks late, prefetch 1)"
PEER_DEFAULTS = "Celery bare, its defaults (acks early, prefetch 4)"
ENQUEUE_TARGET, SUSTAINED_TARGET = 1.5, 0.8  # <= 1.5x bare apply_async; >= 0.8x bare's rate


class CeleryWorker(WorkerProcess):
    ready = " ready."


def tasq_worker(url: str) -> WorkerProcess:
    return CeleryWorker(tasq_worker_command("benchmarks.celery_app", "--backend", "celery"), url)


def peer_worker(url: str, defaults: bool = False) -> WorkerProcess:
    from benchmarks.celery_app import PEER_QUEUE

    os.environ["TASQ_BENCH_CELERY_DEFAULTS"] = "1" if defaults else "0"  # inherited by the worker
    command = [sys.executable, "-m", "celery", "-A", "benchmarks.celery_app:peer", "worker", "-P", "threads"]
    command += ["-c", str(THREADS), "-Q", PEER_QUEUE, "-l", "INFO", "--without-mingle", "--without-gossip"]
    return CeleryWorker([*command, "--without-heartbeat"], url)


def clean_redis(url: str) -> None:
    import redis

    from benchmarks.celery_app import ENGINE

    client = redis.Redis.from_url(url)
    keys = [*client.scan_iter(f"tasq:{ENGINE}:*"), *client.scan_iter(f"*{ENGINE}*"), "unacked", "unacked_index"]
    client.delete(*keys)
    client.close()


def peer_left(url: str) -> Callable[[], int]:
    """The peer's tasks not finished: in its queue, or taken and not acknowledged yet."""
    import redis

    from benchmarks.celery_app import PEER_QUEUE

    client = redis.Redis.from_url(url)
    return lambda: int(client.llen(PEER_QUEUE)) + int(client.hlen("unacked"))


def bench_enqueue(n: int, repetitions: int, url: str) -> list[Result]:
    from benchmarks import celery_app as app

    thread_engine = TasQ(name="bench")  # never started: enqueue alone
    task = app.noop.task()

    def peer() -> float:
        started = time.perf_counter()
        for _ in range(n):
            app.peer_noop.apply_async()
        return time.perf_counter() - started

    trials = {
        IN_PROCESS: enqueuing(thread_engine, task, n),
        TASQ_REDIS: enqueuing(app.engine, task, n),
        PEER_REDIS: peer,
    }
    try:
        for trial in trials.values():
            trial()  # first use: connections, scripts loaded
        samples = measure(trials, repetitions, n)
    finally:
        thread_engine.close(cancel_pending=True)
        clean_redis(url)
    tasq = row(ENQUEUE, samples, TASQ_REDIS, PEER_REDIS)
    return [
        row(ENQUEUE, samples, IN_PROCESS, PEER_REDIS, note="for scale: no broker, no I/O"),
        row(
            ENQUEUE,
            samples,
            TASQ_REDIS,
            PEER_REDIS,
            target=f"<= {ENQUEUE_TARGET}x bare",
            met=tasq.ratio is not None and tasq.ratio <= ENQUEUE_TARGET,
            note="id from a block reserved with one INCRBY; the record pushed with the message (1 Lua call)",
        ),
        row(ENQUEUE, samples, PEER_REDIS, PEER_REDIS, note="Celery's own apply_async"),
    ]


def bench_end_to_end(n: int, repetitions: int, url: str) -> list[Result]:
    from benchmarks import celery_app as app

    workers = [tasq_worker(url), peer_worker(url)]
    left = peer_left(url)
    task = app.noop.task()

    def peer() -> float:
        started = time.perf_counter()
        for _ in range(n):
            app.peer_noop.apply_async()
        wait_until(lambda: left() == 0)
        return time.perf_counter() - started

    trials = {TASQ_REDIS: enqueuing_and_joining(app.engine, task, n), PEER_REDIS: peer}
    try:
        for worker in workers:
            worker.wait_ready()
        for trial in trials.values():
            trial()
        samples = measure(trials, repetitions, n)
    finally:
        for worker in workers:
            worker.stop()
        clean_redis(url)
    return [
        row(END_TO_END, samples, TASQ_REDIS, PEER_REDIS, note=f"{per_second(samples, TASQ_REDIS)}; engine.join()"),
        row(END_TO_END, samples, PEER_REDIS, PEER_REDIS, note=f"{per_second(samples, PEER_REDIS)}; queue emptied"),
    ]


def bench_sustained(n: int, repetitions: int, url: str) -> list[Result]:
    from benchmarks import celery_app as app

    left = peer_left(url)

    def send_tasq() -> None:
        for _ in range(n):
            app.engine.enqueue(app.noop.task())

    def send_peer() -> None:
        for _ in range(n):
            app.peer_noop.apply_async()

    samples: dict[str, list[float]] = {TASQ_REDIS: [], PEER_REDIS: [], PEER_DEFAULTS: []}
    try:
        for _ in range(repetitions):
            # pending: what the ledger counts as sent by this engine and not finished
            pending = lambda: app.engine.stats().pending  # noqa: E731
            samples[TASQ_REDIS].append(drain(lambda: tasq_worker(url), send_tasq, pending) * 1e9)
            samples[PEER_REDIS].append(drain(lambda: peer_worker(url), send_peer, left) * 1e9)
            samples[PEER_DEFAULTS].append(drain(lambda: peer_worker(url, defaults=True), send_peer, left) * 1e9)
    finally:
        clean_redis(url)
    tasq = row(SUSTAINED, samples, TASQ_REDIS, PEER_REDIS)
    rate = 1 / tasq.ratio if tasq.ratio else 0.0  # TasQ's tasks/s over the peer's
    return [
        row(
            SUSTAINED,
            samples,
            TASQ_REDIS,
            PEER_REDIS,
            target=f">= {SUSTAINED_TARGET}x bare's rate",
            met=rate >= SUSTAINED_TARGET,
            note=f"{per_second(samples, TASQ_REDIS)} ({rate:.2f}x bare's rate); + ledger per task",
        ),
        row(SUSTAINED, samples, PEER_REDIS, PEER_REDIS, note=per_second(samples, PEER_REDIS)),
        row(SUSTAINED, samples, PEER_DEFAULTS, PEER_REDIS, note=f"{per_second(samples, PEER_DEFAULTS)}; for scale"),
    ]


def run(quick: bool, **sizes: Any) -> list[Result]:
    os.environ.setdefault("TASQ_BENCH_ENGINE", f"bench-{uuid.uuid4().hex[:8]}")
    from benchmarks import celery_app as app

    url = app.REDIS_URL
    n = sizes.get("n", 300 if quick else 3000)
    repetitions = sizes.get("repetitions", 2 if quick else 5)
    if not up(url):
        why = f"no Redis at {url}"
        return [
            skipped(group, name, why) for group in (ENQUEUE, END_TO_END, SUSTAINED) for name in (TASQ_REDIS, PEER_REDIS)
        ]
    with quiet():
        clean_redis(url)
        results = bench_enqueue(n, repetitions, url)
        results += bench_end_to_end(n, repetitions, url)
        results += bench_sustained(sizes.get("backlog", 1000 if quick else 10_000), max(1, repetitions // 2), url)
    return results


if __name__ == "__main__":  # python -m benchmarks.bench_celery [--quick]
    from benchmarks.report import print_tables

    print_tables(run(quick="--quick" in sys.argv))
