"""Django: Django's Tasks API on TasQBackend and its peers, and @background on Django vs bare.

- ``task.enqueue()`` end to end (enqueue N no-op tasks, wait for the last to finish) on
  TasQBackend, django-tasks-local's ThreadPoolBackend (10 threads; it needs Django 6, so
  Python >= 3.12) and Django's ImmediateBackend (runs each task inside ``enqueue``).
- ``@background`` functions on the Django engine (the app's hooks: signals, DEBUG logs,
  ``close_old_connections()`` around each task) vs the same functions on a bare engine,
  end to end and enqueue alone, beside a bare engine whose only hook is an empty
  ``around_task`` (the least any per-task layer adds).

Django is configured once per process, so ``run()`` measures in a child process.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from benchmarks.common import EmptyAroundTask, Result, Trial, measure, median, paired_ratio, row

WORKERS = 10
WAIT = 300.0

TASKS_GROUP = "Django Tasks: task.enqueue() end to end, no-op tasks"
BACKGROUND_GROUP = "@background on Django vs the bare engine: end to end, no-op tasks"
ENQUEUE_GROUP = "@background on Django vs the bare engine: enqueue alone (workers busy; enqueuing thread's CPU)"

FLOOR = "floor: Django's per-task work, inline"
TASQ_BACKEND = "TasQBackend"
LOCAL = "django-tasks-local ThreadPoolBackend"
IMMEDIATE = "ImmediateBackend (inline)"
BARE = "bare engine"
ON_DJANGO = "Django engine (hooks, signals, db hygiene)"
HOOKED = "bare engine + one empty around_task hook (the least a layer adds)"

TARGET_TASK_NS = 12_000.0
TARGET_RATIO = 1.2


def noop() -> None:
    pass


def _configure() -> bool:
    """Configure Django for this process; True when django-tasks-local can run here."""
    import django
    from django.conf import settings

    local = django.VERSION >= (6, 0)
    if local:
        try:
            import django_tasks_local  # noqa: F401
        except ImportError:
            local = False
    framework = "django.tasks" if django.VERSION >= (6, 0) else "django_tasks"
    tasks: dict[str, dict[str, Any]] = {
        "default": {"BACKEND": "tasq.contrib.django.backend.TasQBackend"},
        "immediate": {"BACKEND": f"{framework}.backends.immediate.ImmediateBackend"},
        "floor": {"BACKEND": "benchmarks.django_floor.FloorBackend"},
    }
    if local:
        tasks["local"] = {"BACKEND": "django_tasks_local.ThreadPoolBackend", "OPTIONS": {"MAX_WORKERS": WORKERS}}
    settings.configure(
        INSTALLED_APPS=["tasq.contrib.django", *([] if django.VERSION >= (6, 0) else ["django_tasks"])],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        TASQ={"WORKERS": WORKERS},
        TASKS=tasks,
        USE_TZ=True,
        LOGGING_CONFIG=None,
    )
    django.setup()
    return local


def _wait_until(done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not done():
        if time.monotonic() > deadline:
            raise RuntimeError(f"tasks did not finish within {WAIT}s")
        time.sleep(0.0005)


def bench_django_tasks(n: int, reps: int, local: bool) -> list[Result]:
    import django

    if django.VERSION >= (6, 0):
        from django.tasks import task, task_backends
    else:
        from django_tasks import task, task_backends

    from tasq.contrib.django import get_engine

    engine = get_engine()
    on_tasq = task(noop)
    on_immediate = task(noop, backend="immediate")
    on_floor = task(noop, backend="floor")
    on_tasq.enqueue()  # starts the workers before the clock
    engine.join()

    def tasq_trial() -> float:
        started = time.perf_counter()
        for _ in range(n):
            on_tasq.enqueue()
        engine.join(WAIT)
        return time.perf_counter() - started

    def immediate_trial() -> float:
        started = time.perf_counter()
        for _ in range(n):
            on_immediate.enqueue()
        return time.perf_counter() - started

    def floor_trial() -> float:
        started = time.perf_counter()
        for _ in range(n):
            on_floor.enqueue()
        return time.perf_counter() - started

    trials: dict[str, Trial] = {FLOOR: floor_trial, TASQ_BACKEND: tasq_trial, IMMEDIATE: immediate_trial}
    if local:
        on_local = task(noop, backend="local")
        state = task_backends["local"]._state

        def local_trial() -> float:
            started = time.perf_counter()
            for _ in range(n):
                on_local.enqueue()
            _wait_until(lambda: not state.futures)
            return time.perf_counter() - started

        trials[LOCAL] = local_trial
    samples = measure(trials, reps, n)
    tasq_ns = median(samples[TASQ_BACKEND])
    rows = [
        row(TASKS_GROUP, samples, FLOOR, FLOOR, note="validate, TaskResult, 3 timestamps, Django's 3 signals"),
        row(
            TASKS_GROUP,
            samples,
            TASQ_BACKEND,
            FLOOR,
            target="<= 12 us/task",
            met=tasq_ns <= TARGET_TASK_NS,
            note="+ queue, worker thread, hooks, db hygiene, results kept",
        ),
        row(TASKS_GROUP, samples, IMMEDIATE, FLOOR, note="the floor + a 32-char random id per result"),
    ]
    if local:
        rows.append(row(TASKS_GROUP, samples, LOCAL, FLOOR, note="a Future per task; sends no signals"))
    else:
        rows.append(
            Result(
                group=TASKS_GROUP,
                name=LOCAL,
                ns=float("nan"),
                note="skipped: django-tasks-local needs Django 6 (Python >= 3.12)",
            )
        )
    return rows


def bench_background(n: int, reps: int) -> list[Result]:
    from tasq import TasQ, background
    from tasq.contrib.django import get_engine

    django_engine = get_engine()
    bare_engine = TasQ(workers=WORKERS)
    bare_engine.start()
    hooked_engine = TasQ(workers=WORKERS, name="bench-hooked")
    hooked_engine.add_hooks(EmptyAroundTask())
    hooked_engine.start()
    on_django = background(noop)  # the Django engine, through the app's resolver
    on_bare = background(tasq=bare_engine)(noop)
    on_hooked = background(tasq=hooked_engine)(noop)
    on_django.enqueue()  # starts the Django engine's workers before the clock
    if not django_engine.join(WAIT):
        raise RuntimeError("the Django engine did not run its first task")

    def end_to_end(fn: Any, engine: Any) -> Trial:
        def trial() -> float:
            started = time.perf_counter()
            for _ in range(n):
                fn.enqueue()
            engine.join(WAIT)
            return time.perf_counter() - started

        return trial

    def enqueue_alone(fn: Any, engine: Any) -> Trial:
        def trial() -> float:
            gate = threading.Event()
            running = threading.Semaphore(0)

            def block() -> None:
                running.release()
                gate.wait(WAIT)

            for _ in range(WORKERS):
                engine.enqueue(block)
            for _ in range(WORKERS):
                running.acquire()
            # The enqueuing thread's CPU time: with every worker blocked it is the whole cost,
            # and it does not grow when another process takes the core.
            started = time.thread_time()
            for _ in range(n):
                fn.enqueue()
            elapsed = time.thread_time() - started
            gate.set()
            engine.join(WAIT)
            return elapsed

        return trial

    try:
        whole = measure(
            {
                BARE: end_to_end(on_bare, bare_engine),
                ON_DJANGO: end_to_end(on_django, django_engine),
                HOOKED: end_to_end(on_hooked, hooked_engine),
            },
            reps,
            n,
        )
        alone = measure(
            {BARE: enqueue_alone(on_bare, bare_engine), ON_DJANGO: enqueue_alone(on_django, django_engine)}, reps, n
        )
    finally:
        bare_engine.close()
        hooked_engine.close()
    ratio = paired_ratio(whole, ON_DJANGO, BARE)
    ratio_alone = paired_ratio(alone, ON_DJANGO, BARE)
    return [
        row(BACKGROUND_GROUP, whole, BARE, BARE),
        row(BACKGROUND_GROUP, whole, ON_DJANGO, BARE, target="<= 1.2x bare", met=ratio <= TARGET_RATIO),
        row(BACKGROUND_GROUP, whole, HOOKED, BARE, note="the hook call alone, no Django"),
        row(ENQUEUE_GROUP, alone, BARE, BARE),
        row(ENQUEUE_GROUP, alone, ON_DJANGO, BARE, target="<= 1.2x bare", met=ratio_alone <= TARGET_RATIO),
    ]


def _measure_here(quick: bool, n: int | None, repetitions: int | None) -> list[Result]:
    local = _configure()
    n = n or (2_000 if quick else 20_000)
    reps = repetitions or (3 if quick else 9)
    from tasq.contrib.django import get_engine

    try:
        return [*bench_django_tasks(n, reps, local), *bench_background(n, reps)]
    finally:
        get_engine().close()


def run(quick: bool, *, n: int | None = None, repetitions: int | None = None) -> list[Result]:
    """Measures in a child process: Django's settings and app registry are per process."""
    command = [sys.executable, "-m", "benchmarks.bench_django", "--json"]
    command += ["--quick"] if quick else []
    command += [f"--n={n}"] if n else []
    command += [f"--repetitions={repetitions}"] if repetitions else []
    child = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{child.stderr[-3000:]}")
    rows = json.loads(child.stdout.splitlines()[-1])
    return [Result(**{**row, "spread": tuple(row["spread"]) if row["spread"] else None}) for row in rows]


def _main(argv: list[str]) -> None:
    options = dict(arg.removeprefix("--").partition("=")[::2] for arg in argv)
    results = _measure_here(
        "quick" in options,
        int(options["n"]) if options.get("n") else None,
        int(options["repetitions"]) if options.get("repetitions") else None,
    )
    if "json" in options:
        print(json.dumps([dataclasses.asdict(result) for result in results]))
    else:
        from benchmarks.report import print_tables

        print_tables(results)


if __name__ == "__main__":
    _main(sys.argv[1:])
