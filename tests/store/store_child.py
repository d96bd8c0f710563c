"""A process sharing a store with the tests' process: ``python store_child.py ROLE URL ...``.

``contend URL THREADS PER_THREAD``: each thread adds PER_THREAD tasks one at a time, claiming
and finishing as it goes, then drains; prints one JSON line of what it added and claimed.
``hold URL COUNT LEASE RENEW``: claims COUNT rows with a lease of LEASE seconds, prints
``claimed`` and their ids, then renews every RENEW seconds (0: never) until it is killed.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import traceback

from tasq.store import Journal, NewTask, Outcome


def contend(url: str, threads: int, per_thread: int) -> None:
    journal = Journal(url)
    added: list[list[int]] = [[] for _ in range(threads)]
    claimed: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def claim_and_finish(limit: int) -> int:
        rows = journal.claim("default", journal.owner, limit)
        recorded = journal.finish(journal.owner, [Outcome(task_id=r.id, attempt=r.attempt, state="done") for r in rows])
        if not all(recorded):
            errors.append(f"not recorded: {[r.id for r, ok in zip(rows, recorded, strict=True) if not ok]}")
        with lock:
            claimed.extend(r.id for r in rows)
        return len(rows)

    def work(number: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                added[number].extend(journal.add([NewTask(engine="default", name="app.tasks.noop", args=[i])]))
                if i % 8 == 7:
                    claim_and_finish(8)
            while claim_and_finish(16):
                pass
        except BaseException:
            errors.append(traceback.format_exc())

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    journal.close()
    print(json.dumps({"added": added, "claimed": claimed, "errors": errors}), flush=True)


def hold(url: str, count: int, lease: float, renew: float) -> None:
    journal = Journal(url)
    rows = journal.claim("default", journal.owner, count, lease=lease)
    print("claimed", json.dumps([r.id for r in rows]), flush=True)
    while True:
        time.sleep(renew or 3600)
        if renew:
            journal.renew(journal.owner, lease=lease)


if __name__ == "__main__":
    role, url, *rest = sys.argv[1:]
    if role == "contend":
        contend(url, int(rest[0]), int(rest[1]))
    else:
        hold(url, int(rest[0]), float(rest[1]), float(rest[2]))
