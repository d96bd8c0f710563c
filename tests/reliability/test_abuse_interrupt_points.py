"""Ctrl-C at every point of an engine call where CPython can deliver it, one trial per point.

CPython runs a signal handler in the main thread when a function starts and when a call
returns (and at a loop's back edge). ``Landing`` counts those points (the profiler's call
and return events, C calls included) while the main thread runs one engine call, and
trial k sends SIGINT to the process at the k-th: the handler in place then (Ctrl-C's, or
the engine's while it holds signals off) runs there, as a real Ctrl-C landing at that
moment would. After each trial, every accepted id is reported exactly once, ``join()``
becomes True in another thread, and the engine takes tasks (and queue slots) as before.
The random-moment trials of test_abuse_interrupts.py add the loops' back edges.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tasq import Hooks, QueueFull, TasQ
from tests.conftest import SCALE
from tests.reliability.interrupting import Reports, noop

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[2]
PRINT = "print(json.dumps(run_case(sys.argv[1])))"


class Landing:
    """A profiler that counts the points, or sends SIGINT at the ``at``-th of them.

    The points are a Python function's start ("call") and the return of any call
    ("return", "c_return"); "c_call" comes before a C function runs, where CPython
    delivers nothing."""

    def __init__(self, at: int = 0) -> None:
        self.at = at
        self.seen = 0
        self.active = False

    def __call__(self, frame: object, event: str, arg: object) -> None:
        if not self.active or event == "c_call":
            return
        self.seen += 1
        if self.seen == self.at:
            self.active = False
            sys.setprofile(None)
            signal.raise_signal(signal.SIGINT)  # its handler runs right here, or is held

    def run(self, call: Callable[[], object]) -> None:
        try:
            sys.setprofile(self)
            self.active = True
            try:
                call()
            finally:
                self.active = False
        except KeyboardInterrupt:
            pass
        finally:
            sys.setprofile(None)


class Headers(Hooks):
    def before_enqueue(self, task_id: int, name: str, headers: dict[str, str]) -> None:
        headers["seen"] = "1"

    def after_enqueue(self, task_id: int) -> None:
        return None


class Trial:
    """An engine with one worker held busy, the ids it returned, and what is owed to them."""

    def __init__(self, start: bool = True, hooks: bool = False, **options: Any) -> None:
        self.reports = Reports()
        self.engine = TasQ(workers=1, on_done=self.reports.on_done, on_failed=self.reports.on_failed, **options)
        if hooks:
            self.engine.add_hooks(Headers())
        self.gate = threading.Event()
        self.ids: list[int] = []
        self.due = True  # every task falls due by itself: join() becomes True before close()
        if start:
            self.engine.start()
            self.ids.append(self.engine.enqueue(self.gate.wait))

    def problems(self) -> list[str]:
        self.gate.set()
        engine, problems = self.engine, []
        if self.due:
            joined: list[bool] = []
            joiner = threading.Thread(target=lambda: joined.append(engine.join(timeout=5)), daemon=True)
            joiner.start()
            joiner.join(10)
            if joined != [True]:
                problems.append(f"join() in another thread: {joined} ({engine.stats()})")
        if not engine._closed and engine.queue_size:  # type: ignore[attr-defined]
            problems.extend(self._slots_free())
        if not engine._closed:  # type: ignore[attr-defined]
            self.ids.append(engine.enqueue(noop))  # still takes tasks, and runs them
        engine.close(timeout=5)
        if not engine.join(timeout=5):
            problems.append(f"join() after close: {engine.stats()}")
        stats, counts = engine.stats(), self.reports.counts
        if [task_id for task_id, times in counts.items() if times > 1]:
            problems.append(f"reported twice: {counts}")
        if set(self.ids) - set(counts):
            problems.append(f"returned, never reported: {sorted(set(self.ids) - set(counts))}")
        if stats.done + stats.failed != stats.enqueued or len(counts) != stats.enqueued:
            problems.append(f"{stats} with {len(counts)} ids reported")
        return problems

    def _slots_free(self) -> list[str]:
        engine, release, running = self.engine, threading.Event(), threading.Event()

        def hold_the_worker() -> None:
            running.set()
            release.wait()

        self.ids.append(engine.enqueue(hold_the_worker))
        try:
            if not running.wait(5):
                return [f"the worker never started a task ({engine.stats()})"]
            for _ in range(engine.queue_size):
                self.ids.append(engine.enqueue(noop, timeout=1))
        except QueueFull:
            return [f"a queue slot was never given back ({engine.stats()})"]
        finally:
            release.set()
        return []


# name -> (Trial options, the engine call interrupted)
CASES: dict[str, tuple[dict[str, Any], Callable[[Trial], object]]] = {
    "enqueue": ({}, lambda t: t.ids.append(t.engine.enqueue(noop))),
    "enqueue, results kept": ({"results": 10}, lambda t: t.ids.append(t.engine.enqueue(noop))),
    "enqueue, hooks": ({"hooks": True}, lambda t: t.ids.append(t.engine.enqueue(noop))),
    "enqueue(delay=)": ({}, lambda t: t.ids.append(t.engine.enqueue(noop, delay=0.01))),
    "enqueue(priority=)": ({}, lambda t: t.ids.append(t.engine.enqueue(noop, priority=3))),
    "enqueue, queue_size": ({"queue_size": 2}, lambda t: t.ids.append(t.engine.enqueue(noop))),
    "enqueue, autostart": (
        {"start": False, "autostart": True},
        lambda t: t.ids.append(t.engine.enqueue(noop)),
    ),
    "start()": ({"start": False}, lambda t: t.engine.start()),
    "join(0)": ({}, lambda t: t.engine.join(0)),
    "cancel()": ({}, lambda t: t.engine.cancel(t.ids[-1])),
    "close() cancelling delayed tasks": ({}, lambda t: t.engine.close(timeout=0)),
}
WITH_DELAYED = {"cancel()", "close() cancelling delayed tasks"}


def prepare(case: str) -> Trial:
    options, _ = CASES[case]
    trial = Trial(**options)
    if case in WITH_DELAYED:
        trial.ids.extend(trial.engine.enqueue(noop, delay=60) for _ in range(3))
        trial.due = False
    return trial


def run_case(case: str) -> dict[str, Any]:
    """Every trial of ``case``: how many points it has, and what was wrong after each."""
    _, call = CASES[case]
    counting = Landing()
    trial = prepare(case)
    counting.run(lambda: call(trial))
    failures = {0: trial.problems()} if trial.problems() else {}
    points = counting.seen
    # About 40 points spread over the call by default; every point under `make stress`.
    for at in range(1, points + 1, 1 if SCALE == 10 else max(1, points // 40)):
        trial = prepare(case)
        Landing(at).run(lambda: call(trial))  # noqa: B023 - called at once
        problems = trial.problems()
        if problems:
            failures[at] = problems
    return {"points": points, "failures": failures}


@pytest.mark.parametrize("case", list(CASES))
def test_ctrl_c_at_each_point_of_an_engine_call_leaves_its_state_whole(case: str) -> None:
    # A process of its own: the interrupts land in the standard library's code too (its
    # threading internals), which nothing can keep whole, and the test process must be.
    process = subprocess.run(
        [sys.executable, "-c", f"import json, sys; from {__name__} import run_case; {PRINT}", case],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert process.returncode == 0, process.stderr[-4000:]
    result = json.loads(process.stdout.strip().splitlines()[-1])
    assert result["points"] > 5
    failures = result["failures"]
    assert not failures, f"{len(failures)} of {result['points']} points: {dict(list(failures.items())[:3])}"
