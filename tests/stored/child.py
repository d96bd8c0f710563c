"""A process sharing a store with the tests: ``python -m tests.stored.child ROLE ...``.

``hold URL RUNS LEASE``: an engine with ``store_lease=LEASE`` stores ``once_only`` and
``block_forever`` (each records its run in RUNS, then blocks), plus one delayed and one
pending task that its single busy worker never gets to; prints their ids as one JSON line
and waits to be killed.

``produce URL RUNS INDEX THREADS PER_THREAD``: an engine with 4 workers; THREADS producer
threads each enqueue PER_THREAD ``record_id`` tasks one at a time, each with a tag no other
task of any process has; every run appends its tag to ``RUNS.<pid of the process running it>``.
Then it waits until every task this engine accepted has ended (in whichever process) and
prints one JSON line: the ids it was given and the errors that reached a caller.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import traceback

from tasq import TasQ
from tests.stored import tasks


def hold(url: str, runs: str, lease: float) -> None:
    engine = TasQ(store=url, store_lease=lease, workers=2, store_poll=0.05)
    engine.start()
    once = engine.enqueue(tasks.once_only.task(runs))
    again = engine.enqueue(tasks.block_forever.task(runs))
    delayed = engine.enqueue(tasks.record.task(runs, "delayed"), delay=0.5)
    pending = engine.enqueue(tasks.record.task(runs, "pending"), priority=-1)
    print(json.dumps({"once": once, "again": again, "delayed": delayed, "pending": pending}), flush=True)
    time.sleep(120)


def produce(url: str, runs: str, index: int, threads: int, per_thread: int) -> None:
    engine = TasQ(store=url, workers=4, store_poll=0.2, store_lease=30)
    engine.start()
    ids: list[list[int]] = [[] for _ in range(threads)]
    errors: list[str] = []
    start = threading.Barrier(threads)

    def work(number: int) -> None:
        try:
            start.wait()
            first = (index * threads + number) * per_thread  # tags no other thread or process uses
            for i in range(per_thread):
                ids[number].append(engine.enqueue(tasks.record_id.task(runs, first + i)))
        except BaseException:
            errors.append(traceback.format_exc())

    producers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for producer in producers:
        producer.start()
    for producer in producers:
        producer.join()
    try:
        if not engine.join(600):
            errors.append("join() timed out")
        engine.close()
    except BaseException:
        errors.append(traceback.format_exc())
    print(json.dumps({"ids": ids, "errors": errors}), flush=True)


if __name__ == "__main__":
    role, url, *rest = sys.argv[1:]
    if role == "hold":
        hold(url, rest[0], float(rest[1]))
    else:
        produce(url, rest[0], int(rest[1]), int(rest[2]), int(rest[3]))
