"""The bare engine: thousands of tasks, some retried, some failing, all accounted for."""

from __future__ import annotations

import logging
import random
import threading
import time

from tasq import RetryTask, TasQ, backoff

from .report import Bar, heading, line, percentile, table

TASKS = 5000


def main(tasks: int = TASKS) -> bool:
    heading("The engine on its own: TasQ(workers=32, max_retry=3, retry_delay=backoff(0.005))")
    enqueued_at: dict[int, float] = {}
    latencies: list[float] = []
    failures: dict[str, int] = {}
    lock = threading.Lock()

    def on_done(task_id: int) -> None:
        with lock:
            latencies.append(time.perf_counter() - enqueued_at[task_id])

    def on_failed(task_id: int, error: BaseException) -> None:
        with lock:
            failures[type(error).__name__] = failures.get(type(error).__name__, 0) + 1

    attempts: dict[int, int] = {}

    def make_task(number: int, fate: float) -> object:
        def task() -> None:
            time.sleep(random.uniform(0.0005, 0.003))  # a small piece of I/O
            tries = attempts[number] = attempts.get(number, 0) + 1
            if fate < 0.02:
                raise ConnectionError(f"upstream refused job {number}")
            if fate < 0.04:
                raise RetryTask(f"job {number}: still failing")  # uses all 3 attempts
            if fate < 0.14 and tries < 2:
                raise RetryTask(f"job {number}: temporary failure")

        return task

    random.seed(7)
    engine = TasQ(workers=32, max_retry=3, retry_delay=backoff(0.005, max=0.05), on_done=on_done, on_failed=on_failed)
    logging.getLogger("tasq").setLevel(logging.CRITICAL)  # the table below says what failed
    started = time.perf_counter()
    with engine:
        for number in range(tasks):
            task = make_task(number, random.random())
            with lock:
                task_id = engine.enqueue(task)
                enqueued_at[task_id] = time.perf_counter()
        with Bar("tasks", tasks) as bar:
            while not engine.join(timeout=0.1):
                stats = engine.stats()
                bar.update(stats.done + stats.failed, detail=f"retried {stats.retried}")
            stats = engine.stats()
            bar.update(stats.done + stats.failed, detail=f"retried {stats.retried}")
    elapsed = time.perf_counter() - started
    table(
        "engine summary",
        [
            ("tasks enqueued", f"{stats.enqueued:,}"),
            ("done", f"{stats.done:,}"),
            ("failed", f"{stats.failed:,}"),
            ("  of which MaxRetryExceeded", f"{failures.get('MaxRetryExceeded', 0):,}"),
            ("  of which ConnectionError", f"{failures.get('ConnectionError', 0):,}"),
            ("retries", f"{stats.retried:,}"),
            ("wall time", f"{elapsed:.2f} s"),
            ("enqueue -> done p50", f"{percentile(latencies, 0.5) * 1000:.1f} ms"),
            ("enqueue -> done p99", f"{percentile(latencies, 0.99) * 1000:.1f} ms"),
        ],
    )
    balanced = stats.enqueued == stats.done + stats.failed == tasks
    line(f"every task accounted for: {'yes' if balanced else 'NO'}")
    return balanced


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
