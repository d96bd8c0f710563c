"""Scale-out: what sending a task to Dramatiq workers costs, against the thread engine and
against Dramatiq used bare, on the same Redis.

Three groups: enqueue alone (nothing consumes meanwhile); end to end (a worker process
runs while N tasks are sent, until the last is done); and what one worker process
sustains when it drains a backlog (timed from its first finished task to its last, so
that its start-up is not counted). Worker processes are real: ``tasq worker`` for TasQ,
``dramatiq`` for the peer, one process of 8 threads each. Redis (and RabbitMQ) are the
ones on 127.0.0.1: a contender whose service is down is listed as skipped, with why.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from typing import Any

from benchmarks.common import (
    THREADS,
    WAIT,
    Result,
    Trial,
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
)
from tasq import TasQ

RABBITMQ_URL = os.environ.get("TASQ_BENCH_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672/")

ENQUEUE = "scale-out: enqueue alone (a @background call, nothing consuming)"
END_TO_END = "scale-out: end to end, one worker process (8 threads): send N no-op tasks, wait for the last"
SUSTAINED = "scale-out: one worker process (8 threads) draining a backlog of no-op tasks"

IN_PROCESS = "TasQ in-process (thread engine)"
TASQ_REDIS = "TasQ -> Dramatiq/Redis"
TASQ_RABBITMQ = "TasQ -> Dramatiq/RabbitMQ (confirmed)"
PEER_REDIS = "Dramatiq bare: actor.send -> Redis"


def clean_redis(url: str) -> None:
    import redis

    from benchmarks.dramatiq_app import ENGINE

    client = redis.Redis.from_url(url)
    keys = [*client.scan_iter(f"tasq:{ENGINE}:*"), *client.scan_iter(f"dramatiq:*{ENGINE}*")]
    if keys:
        client.delete(*keys)
    client.close()


def delete_rabbitmq_queues(queue: str) -> None:
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    broker = RabbitmqBroker(url=RABBITMQ_URL)
    for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
        broker.channel.queue_delete(name)
    broker.close()


def tasq_worker(url: str) -> WorkerProcess:
    return WorkerProcess(tasq_worker_command("benchmarks.dramatiq_app"), url)


def peer_worker(url: str) -> WorkerProcess:
    command = [sys.executable, "-m", "dramatiq", "benchmarks.dramatiq_app:peer_broker", "-p", "1"]
    from benchmarks.dramatiq_app import PEER_QUEUE

    return WorkerProcess([*command, "-t", str(THREADS), "-Q", PEER_QUEUE], url)


# -- enqueue alone --------------------------------------------------------------------


def bench_enqueue(n: int, repetitions: int, url: str, redis_up: bool, rabbitmq_up: bool) -> list[Result]:
    from benchmarks import dramatiq_app as app

    thread_engine = TasQ(name="bench")  # never started: enqueue alone
    trials: dict[str, Trial] = {}
    engines: list[TasQ] = [thread_engine]

    def sender(engine: TasQ) -> Trial:
        return enqueuing(engine, app.noop.task(), n)

    trials[IN_PROCESS] = sender(thread_engine)
    if redis_up:
        trials[TASQ_REDIS] = sender(app.engine)

        def peer() -> float:
            started = time.perf_counter()
            for _ in range(n):
                app.peer_noop.send()
            return time.perf_counter() - started

        trials[PEER_REDIS] = peer
    if rabbitmq_up:
        rabbit = TasQ(backend="dramatiq", broker_url=RABBITMQ_URL, name=app.ENGINE)
        engines.append(rabbit)
        trials[TASQ_RABBITMQ] = sender(rabbit)
    try:
        for trial in trials.values():
            trial()  # first use: connections, scripts loaded
        samples = measure(trials, repetitions, n)
    finally:
        for engine in engines:
            engine.close(cancel_pending=True)
        if rabbitmq_up:
            delete_rabbitmq_queues(f"tasq.{app.ENGINE}")
        if redis_up:
            clean_redis(url)
    baseline = PEER_REDIS if redis_up else IN_PROCESS
    rows = [row(ENQUEUE, samples, IN_PROCESS, baseline, note="for scale: no broker, no I/O")]
    if redis_up:
        rows.append(row(ENQUEUE, samples, TASQ_REDIS, baseline, note="id and status record (1 Lua call), then send"))
        rows.append(row(ENQUEUE, samples, PEER_REDIS, baseline, note="Dramatiq's own send"))
    else:
        rows += [skipped(ENQUEUE, name, f"no Redis at {url}") for name in (TASQ_REDIS, PEER_REDIS)]
    if rabbitmq_up:
        rows.append(row(ENQUEUE, samples, TASQ_RABBITMQ, baseline, note="each publish confirmed by RabbitMQ"))
    else:
        rows.append(skipped(ENQUEUE, TASQ_RABBITMQ, f"no RabbitMQ at {RABBITMQ_URL}"))
    return rows


# -- end to end -----------------------------------------------------------------------


def bench_end_to_end(n: int, repetitions: int, url: str, redis_up: bool) -> list[Result]:
    from benchmarks import dramatiq_app as app

    thread_engine = TasQ(workers=THREADS, name="bench-e2e")
    thread_engine.start()
    task = app.noop.task()

    def in_process() -> float:
        started = time.perf_counter()
        for _ in range(n):
            thread_engine.enqueue(task)
        thread_engine.join()
        return time.perf_counter() - started

    trials: dict[str, Trial] = {IN_PROCESS: in_process}
    workers: list[WorkerProcess] = []
    if redis_up:
        workers = [tasq_worker(url), peer_worker(url)]
        for worker in workers:
            worker.wait_ready()

        def peer() -> float:
            started = time.perf_counter()
            for _ in range(n):
                app.peer_noop.send()
            app.peer_broker.join(app.PEER_QUEUE, interval=2, timeout=int(WAIT * 1000))
            return time.perf_counter() - started

        trials[TASQ_REDIS] = enqueuing_and_joining(app.engine, task, n)
        trials[PEER_REDIS] = peer
    try:
        for trial in trials.values():
            trial()
        samples = measure(trials, repetitions, n)
    finally:
        thread_engine.close()
        for worker in workers:
            worker.stop()
        if redis_up:
            clean_redis(url)
    if not redis_up:
        rows = [row(END_TO_END, samples, IN_PROCESS, IN_PROCESS, note=per_second(samples, IN_PROCESS))]
        return rows + [skipped(END_TO_END, name, f"no Redis at {url}") for name in (TASQ_REDIS, PEER_REDIS)]
    return [
        row(END_TO_END, samples, IN_PROCESS, PEER_REDIS, note=per_second(samples, IN_PROCESS)),
        row(END_TO_END, samples, TASQ_REDIS, PEER_REDIS, note=f"{per_second(samples, TASQ_REDIS)}; engine.join()"),
        row(END_TO_END, samples, PEER_REDIS, PEER_REDIS, note=f"{per_second(samples, PEER_REDIS)}; broker.join()"),
    ]


# -- what one worker process sustains -------------------------------------------------


def bench_sustained(n: int, repetitions: int, url: str) -> list[Result]:
    from benchmarks import dramatiq_app as app

    def send_tasq() -> None:
        for _ in range(n):
            app.engine.enqueue(app.noop.task())

    def send_peer() -> None:
        for _ in range(n):
            app.peer_noop.send()

    def tasq_backlog() -> float:
        # pending: what the ledger counts as sent by this engine and not finished
        return drain(lambda: tasq_worker(url), send_tasq, lambda: app.engine.stats().pending)

    def peer_backlog() -> float:
        return drain(lambda: peer_worker(url), send_peer, lambda: int(app.peer_broker.do_qsize(app.PEER_QUEUE)))

    samples: dict[str, list[float]] = {TASQ_REDIS: [], PEER_REDIS: []}
    try:
        for _ in range(repetitions):
            samples[TASQ_REDIS].append(tasq_backlog() * 1e9)
            samples[PEER_REDIS].append(peer_backlog() * 1e9)
    finally:
        clean_redis(url)
    return [
        row(SUSTAINED, samples, TASQ_REDIS, PEER_REDIS, note=f"{per_second(samples, TASQ_REDIS)}; + ledger per task"),
        row(SUSTAINED, samples, PEER_REDIS, PEER_REDIS, note=per_second(samples, PEER_REDIS)),
    ]


def run(quick: bool, **sizes: Any) -> list[Result]:
    os.environ.setdefault("TASQ_BENCH_ENGINE", f"bench-{uuid.uuid4().hex[:8]}")
    from benchmarks import dramatiq_app as app

    url = app.REDIS_URL
    redis_up, rabbitmq_up = up(url), up(RABBITMQ_URL)
    n = sizes.get("n", 300 if quick else 3000)
    repetitions = sizes.get("repetitions", 2 if quick else 5)
    with quiet():
        if redis_up:
            clean_redis(url)
        results = bench_enqueue(n, repetitions, url, redis_up, rabbitmq_up)
        results += bench_end_to_end(n, repetitions, url, redis_up)
        if redis_up:
            results += bench_sustained(sizes.get("backlog", 1000 if quick else 10_000), max(1, repetitions // 2), url)
        else:
            results += [skipped(SUSTAINED, name, f"no Redis at {url}") for name in (TASQ_REDIS, PEER_REDIS)]
    return results


if __name__ == "__main__":  # python -m benchmarks.bench_dramatiq [--quick]
    from benchmarks.report import print_tables

    print_tables(run(quick="--quick" in sys.argv))
