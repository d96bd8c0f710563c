"""The durable queues TasQ's store is measured against, each driven the way its docs show:
N no-op tasks from ``PRODUCERS`` threads, run by its own consumer, until the last is done.

- huey ``SqliteHuey`` with its thread consumer (``create_consumer(worker_type="thread")``),
  polling tuned down from its defaults (0.1 s, backing off to 10 s) to 1-100 ms;
- persist-queue ``SQLiteAckQueue`` with consumer threads (``get`` then ``ack``);
- django-tasks-db: ``task.enqueue()`` into Django's ORM on SQLite, run by ``manage.py
  db_worker`` in a process of its own (its only way to run), at ``--interval 0.01``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCERS = 8
CONSUMERS = 4
WAIT = 300.0  # seconds: a contender that has not finished by then is broken, not slow


class Countdown:
    def __init__(self, n: int) -> None:
        self.left = n
        self.lock = threading.Lock()
        self.done = threading.Event()

    def __call__(self) -> None:
        with self.lock:
            self.left -= 1
            if self.left == 0:
                self.done.set()

    def wait(self) -> None:
        if not self.done.wait(WAIT):
            raise TimeoutError(f"{self.left} tasks still not done after {WAIT:.0f} s")


def produce(n: int, send: Callable[[], object], producers: int = PRODUCERS) -> None:
    """``send()`` n times, from ``producers`` threads at once."""
    each = [n // producers + (1 if i < n % producers else 0) for i in range(producers)]
    threads = [threading.Thread(target=lambda k=k: [send() for _ in range(k)]) for k in each]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def huey_end_to_end(n: int) -> float:
    from huey import SqliteHuey

    with tempfile.TemporaryDirectory() as tmp:
        huey = SqliteHuey(name="bench", filename=os.path.join(tmp, "huey.db"), results=False)
        countdown = Countdown(n)

        @huey.task()
        def noop() -> None:
            countdown()

        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
        consumer = huey.create_consumer(
            workers=CONSUMERS, worker_type="thread", periodic=False, initial_delay=0.001, max_delay=0.1
        )
        started = time.perf_counter()
        consumer.start()
        try:
            produce(n, noop)
            countdown.wait()
            return time.perf_counter() - started
        finally:
            consumer.stop(graceful=True)
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            huey.storage.close()


def huey_enqueue(n: int, producers: int) -> float:
    """Seconds for ``producers`` threads to enqueue ``n`` tasks, nothing consuming."""
    from huey import SqliteHuey

    with tempfile.TemporaryDirectory() as tmp:
        huey = SqliteHuey(name="bench", filename=os.path.join(tmp, "huey.db"), results=False)

        @huey.task()
        def noop() -> None:
            pass

        noop()  # the file made before the clock starts
        try:
            started = time.perf_counter()
            produce(n, noop, producers)
            return time.perf_counter() - started
        finally:
            huey.storage.close()


def persist_queue_enqueue(n: int, producers: int) -> float:
    """Seconds for ``producers`` threads to ``put`` ``n`` items, nothing consuming."""
    from persistqueue import SQLiteAckQueue

    with tempfile.TemporaryDirectory() as tmp:
        queue = SQLiteAckQueue(os.path.join(tmp, "pq"), multithreading=True, auto_commit=True)
        try:
            started = time.perf_counter()
            produce(n, lambda: queue.put({"task": "noop"}), producers)
            return time.perf_counter() - started
        finally:
            queue.close()


def persist_queue_end_to_end(n: int) -> float:
    from persistqueue import SQLiteAckQueue
    from persistqueue.exceptions import Empty

    with tempfile.TemporaryDirectory() as tmp:
        queue = SQLiteAckQueue(os.path.join(tmp, "pq"), multithreading=True, auto_commit=True)
        countdown = Countdown(n)

        def consume() -> None:
            while not countdown.done.is_set():
                try:
                    item = queue.get(block=True, timeout=0.05)
                except Empty:
                    continue
                countdown()
                queue.ack(item)

        consumers = [threading.Thread(target=consume) for _ in range(CONSUMERS)]
        started = time.perf_counter()
        for thread in consumers:
            thread.start()
        try:
            produce(n, lambda: queue.put({"task": "noop"}))
            countdown.wait()
            return time.perf_counter() - started
        finally:
            countdown.done.set()
            for thread in consumers:
                thread.join()
            queue.close()


def django_tasks_db_end_to_end(n: int) -> float:
    """Enqueue in this process, run by ``db_worker`` in another, done when no row is left."""
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(
            os.environ,
            TASQ_BENCH_DJANGO_DB=os.path.join(tmp, "django.db"),
            PYTHONPATH=str(ROOT),
            DJANGO_SETTINGS_MODULE="benchmarks.store_django",
        )
        manage = [sys.executable, "-m", "django"]
        subprocess.run([*manage, "migrate", "-v", "0"], env=env, cwd=ROOT, check=True)
        code = (
            "import sys, django, threading; django.setup();"
            "from benchmarks.store_peers import produce; from benchmarks.store_django_tasks import noop;"
            "import time; print(time.time(), flush=True); produce(int(sys.argv[1]), noop.enqueue)"
        )
        worker = subprocess.Popen(
            [*manage, "db_worker", "--interval", "0.01", "--no-startup-delay"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:  # timed from the producer's first enqueue, not from its start-up
            producer = subprocess.run(
                [sys.executable, "-c", code, str(n)], env=env, cwd=ROOT, check=True, capture_output=True, text=True
            )
            _wait_for_django(os.path.join(tmp, "django.db"), n)
            return time.time() - float(producer.stdout.split()[0])
        finally:
            worker.terminate()
            worker.wait(30)


def _wait_for_django(path: str, n: int) -> None:
    import sqlite3

    deadline = time.monotonic() + WAIT
    connection = sqlite3.connect(path, timeout=30)
    try:
        while True:
            (done,) = connection.execute(
                "SELECT count(*) FROM django_tasks_database_dbtaskresult WHERE status = 'SUCCESSFUL'"
            ).fetchone()
            if done >= n:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"django-tasks-db: {done} of {n} done after {WAIT:.0f} s")
            time.sleep(0.01)
    finally:
        connection.close()
