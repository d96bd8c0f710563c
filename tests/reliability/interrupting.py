"""Ctrl-C at a random moment while the main thread is inside the engine, many times over.

    python -m tests.reliability.interrupting CASE TRIALS

Each trial makes an engine, runs one of the CASES below in the main thread until a real
SIGINT (sent to the main thread by another thread after a random delay) raises
``KeyboardInterrupt`` wherever CPython delivers it, then checks what every accepted id is
owed: ``join()`` becomes True, ``close()`` returns, each id ``enqueue`` returned is reported
exactly once, and the engine counts as many reports as ids. One JSON line says how the
trials went: ``{"trials": N, "problems": [...]}``. A trial that hangs is caught by
``faulthandler``, which prints every thread's stack and ends the process.

Run in a process of its own: a KeyboardInterrupt is sent to the whole interpreter.
"""

from __future__ import annotations

import faulthandler
import json
import random
import signal
import sys
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from tasq import Hooks, QueueFull, TasQ

MAIN = threading.main_thread().ident
HANG = 25.0  # seconds a trial may take before faulthandler ends the process


class Reports:
    """The ids reported, each with how often (callbacks run in workers and in the main thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[int] = Counter()

    def on_done(self, task_id: int) -> None:
        with self._lock:
            self.counts[task_id] += 1

    def on_failed(self, task_id: int, error: BaseException) -> None:
        with self._lock:
            self.counts[task_id] += 1


def noop() -> None:
    return None


class Quiet(Hooks):
    def before_enqueue(self, task_id: int, name: str, headers: dict[str, str]) -> None:
        headers["seen"] = "1"

    def after_enqueue(self, task_id: int) -> None:
        return None


# A body runs in the main thread until the interrupt; it sets ``armed`` when the interrupt
# may come (the sender waits for it), and the trial sets ``gate`` once the interrupt came.
Body = Callable[[TasQ, list[int], threading.Event, threading.Event], None]


def enqueue_forever(**options: Any) -> Body:
    def body(engine: TasQ, ids: list[int], armed: threading.Event, gate: threading.Event) -> None:
        enqueue = engine.enqueue
        armed.set()
        while True:
            ids.append(enqueue(noop, **options))

    return body


def priorities(engine: TasQ, ids: list[int], armed: threading.Event, gate: threading.Event) -> None:
    step = 0
    armed.set()
    while True:
        step += 1
        ids.append(engine.enqueue(noop, priority=(-1, 0, 1, 5)[step % 4]))


def join_forever(engine: TasQ, ids: list[int], armed: threading.Event, gate: threading.Event) -> None:
    ids.append(engine.enqueue(gate.wait))  # busy until the trial is over: join(0.001) stays False
    armed.set()
    while True:
        engine.join(0)  # no wait: the interrupt lands in join's own steps, not in a wait
        engine.join(0.0001)


def close_with_delayed(engine: TasQ, ids: list[int], armed: threading.Event, gate: threading.Event) -> None:
    for _ in range(3000):
        ids.append(engine.enqueue(noop, delay=60))
    armed.set()
    engine.close(timeout=0)  # cancels all of them, each reported
    gate.wait()  # the interrupt came after close() returned: it lands here


# name -> (engine options, the body, the longest delay before the interrupt in seconds,
# whether every task falls due by itself: then join() must become True before close())
CASES: dict[str, tuple[dict[str, Any], Body, float, bool]] = {
    "enqueue": ({}, enqueue_forever(), 0.003, True),
    "enqueue-results": ({"results": 1000}, enqueue_forever(), 0.003, True),
    "enqueue-hooks": ({"hooks": Quiet()}, enqueue_forever(), 0.003, True),
    "enqueue-delay": ({}, enqueue_forever(delay=0.001), 0.003, True),
    "enqueue-priority": ({}, priorities, 0.003, True),
    "enqueue-bounded": ({"queue_size": 1000}, enqueue_forever(), 0.003, True),
    "join": ({}, join_forever, 0.003, True),
    "close": ({}, close_with_delayed, 0.002, False),
}


def trial(case: str, rng: random.Random) -> list[str]:
    options, body, longest, due = CASES[case]
    options = dict(options)
    hooks = options.pop("hooks", None)
    reports = Reports()
    engine = TasQ(workers=2, on_done=reports.on_done, on_failed=reports.on_failed, **options)
    if hooks is not None:
        engine.add_hooks(hooks)
    engine.start()
    ids: list[int] = []
    armed, caught, gate = threading.Event(), threading.Event(), threading.Event()

    def interrupt() -> None:
        armed.wait()
        threading.Event().wait(rng.uniform(0, longest))  # the adversary's random moment
        while not caught.is_set():
            signal.pthread_kill(MAIN, signal.SIGINT)
            caught.wait(0.5)  # a finalizer may swallow one: send another

    sender = threading.Thread(target=interrupt, daemon=True)
    sender.start()
    try:
        body(engine, ids, armed, gate)
    except KeyboardInterrupt:
        pass
    finally:
        caught.set()
        armed.set()
    sender.join()
    gate.set()
    problems = []
    if due and not engine.join(timeout=20):
        problems.append(f"{case}: join() never became True ({engine.stats()})")
    if "queue_size" in options:
        problems.extend(slots_free(engine, options["queue_size"]))
    engine.close(timeout=10)
    if not engine.join(timeout=10):
        problems.append(f"{case}: join() never became True after close ({engine.stats()})")
    joined: list[bool] = []
    joiner = threading.Thread(target=lambda: joined.append(engine.join(timeout=10)))
    joiner.start()
    joiner.join()
    if joined != [True]:
        problems.append(f"{case}: join() in another thread never became True")
    stats = engine.stats()
    counts = reports.counts
    twice = [task_id for task_id, times in counts.items() if times > 1]
    unreported = sorted(set(ids) - set(counts))
    if twice:
        problems.append(f"{case}: reported more than once: {twice[:5]}")
    if unreported:
        problems.append(f"{case}: returned, never reported: {unreported[:5]}")
    if stats.done + stats.failed != stats.enqueued or len(counts) != stats.enqueued:
        problems.append(f"{case}: {stats} with {len(counts)} ids reported")
    return problems


def slots_free(engine: TasQ, size: int) -> list[str]:
    """With both workers held busy, ``size`` more tasks fit: no slot was kept by an interrupt."""
    release = threading.Event()
    for _ in range(2):
        engine.enqueue(release.wait)
    problems = []
    started = threading.Event()
    deadline = threading.Timer(10, started.set)
    deadline.start()
    while engine.stats().running < 2 and not started.is_set():
        started.wait(0.001)
    deadline.cancel()
    try:
        for _ in range(size):
            engine.enqueue(noop, timeout=2)
    except QueueFull:
        problems.append(f"a slot of queue_size={size} was never given back ({engine.stats()})")
    release.set()
    return problems


def main() -> None:
    case, trials = sys.argv[1], int(sys.argv[2])
    rng = random.Random(f"{case}-{trials}")
    problems: list[str] = []
    for _ in range(trials):
        faulthandler.dump_traceback_later(HANG, exit=True)
        problems.extend(trial(case, rng))
        faulthandler.cancel_dump_traceback_later()
    print(json.dumps({"trials": trials, "problems": problems[:20], "failed": len(problems)}))


if __name__ == "__main__":
    main()
