"""Flask: what one enqueue adds to a request, TasQ beside Flask-Executor, and the Flask
layer per task beside a bare engine whose only hook is an empty ``around_task``.

Every contender is the same Flask app called through WSGI directly (one request after
another, no server, no HTTP client), so that the figures are about the app: routing, the
view, and what it does with the task. Flask-Executor is the peer Flask users have today:
a ThreadPoolExecutor that copies the request context into each task.
"""

from __future__ import annotations

import concurrent.futures
import io
import statistics
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, current_app
from flask_executor import Executor

from benchmarks.common import EmptyAroundTask, Result, Trial, measure, median, paired_ratio, row, timed
from tasq import TasQ as Engine
from tasq import background
from tasq.contrib.flask import TasQ

PER_REQUEST = "one enqueue inside a Flask request (WSGI in process, request time, tasks running alongside)"
ENQUEUE_ONLY = "one enqueue inside a Flask request, the pool held busy (what the request thread pays)"
WITH_WORK = "Flask requests and their background work, done: TasQ vs Flask-Executor"
PER_TASK = "the Flask layer per task: no-op tasks enqueue to done, app context each"

PLAIN = "plain request"
REGISTERED = "TasQ(app), no enqueue"
ENQUEUE = "TasQ: app.extensions['tasq'].enqueue()"
EXTENSION = "TasQ: tasq.enqueue() (the extension)"
DECORATED = "TasQ: @background .enqueue()"
EXECUTOR = "Flask-Executor: executor.submit()"
BARE_IN_VIEW = "bare TasQ engine .enqueue() (no Flask layer)"
BARE = "bare engine (no app context)"
FLASK_ENGINE = "Flask app's engine (app context, signals)"
HOOKED = "bare engine + one empty around_task hook (the least a layer adds)"
TARGET_NS = 3000.0
WORKERS = 10


def per_request_row(group: str, samples: dict[str, list[float]], name: str, baseline: str, **fields: Any) -> Result:
    return row(group, samples, name, baseline, **{"unit": "ns/request", **fields})


def noop() -> None:
    pass


noop_task = background(noop)


class Contender:
    """A Flask app whose POST / does one thing with a task (or nothing), and what runs the tasks."""

    def __init__(self, view: str) -> None:
        self.app = app = Flask(f"bench-{view}")
        app.config.update(TASQ_WORKERS=WORKERS, EXECUTOR_MAX_WORKERS=WORKERS)
        self.futures: list[concurrent.futures.Future[None]] = []
        extension = TasQ()
        self.engine: Engine | None = None
        if view == "bare":
            self.engine = Engine(workers=WORKERS, name="bench-bare", autostart=True)
        elif view not in ("plain", "executor"):
            self.engine = extension.init_app(app)
        self.executor = Executor(app) if view == "executor" else None
        add_view(app, view, extension, self.engine, self.executor, self.futures)

    def hold(self) -> threading.Event:
        """Occupy every worker until the returned event is set, so that tasks only queue."""
        release, started = threading.Event(), threading.Semaphore(0)

        def gate() -> None:
            started.release()
            release.wait(300)

        for _ in range(WORKERS):
            if self.engine is not None:
                self.engine.enqueue(gate)
            elif self.executor is not None:
                self.executor._self.submit(gate)  # the pool under Flask-Executor
        for _ in range(WORKERS if self.engine is not None or self.executor is not None else 0):
            if not started.acquire(timeout=60):
                raise RuntimeError("the workers did not take the gate tasks")
        return release

    def finish(self) -> None:
        if self.engine is not None and not self.engine.join(300):
            raise RuntimeError("the tasks did not finish")
        futures = self.futures
        concurrent.futures.wait(futures)
        failed = sum(1 for future in futures if future.exception() is not None)
        if failed:
            raise RuntimeError(f"{failed} Flask-Executor tasks failed: {futures[0].exception()!r}")
        futures.clear()

    def trial(self, n: int, wait: bool = False, held: bool = False) -> Trial:
        def run() -> float:
            release = self.hold() if held else None
            seconds = timed(lambda: (requests(self.app, n), self.finish() if wait else None))
            if release is not None:
                release.set()
            self.finish()  # untimed when not part of the figure: the next run starts clean
            return seconds

        return run

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
        if self.executor is not None:
            self.executor.shutdown()


def add_view(
    app: Flask,
    view: str,
    extension: TasQ,
    engine: Engine | None,
    executor: Executor | None,
    futures: list[concurrent.futures.Future[None]],
) -> None:
    @app.post("/")
    def index() -> str:
        if view == "bare" and engine is not None:
            engine.enqueue(noop)
        elif view == "enqueue":
            current_app.extensions["tasq"].enqueue(noop)
        elif view == "extension":
            extension.enqueue(noop)
        elif view == "decorated":
            noop_task.enqueue()
        elif executor is not None:
            futures.append(executor.submit(noop))
        return "ok"


def requests(app: Flask, n: int) -> None:
    """``n`` POST requests to ``/``, one after another, each to its end."""
    environ = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "SERVER_NAME": "bench",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_LENGTH": "0",
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        return lambda data: None

    for _ in range(n):
        body = app(dict(environ, **{"wsgi.input": io.BytesIO(b"")}), start_response)
        for _chunk in body:
            pass


@contextmanager
def contenders(views: dict[str, str]) -> Iterator[dict[str, Contender]]:
    made = {name: Contender(view) for name, view in views.items()}
    try:
        yield made
    finally:
        for contender in made.values():
            contender.close()


def _measure(trials: dict[str, Trial], repetitions: int, per: int) -> dict[str, list[float]]:
    for run in trials.values():
        run()  # first use: imports, caches, the pools' threads
    return measure(trials, repetitions, per)


def added(samples: dict[str, list[float]], name: str, baseline: str = PLAIN) -> float:
    """Median of the paired differences: ns this contender adds to each request (or task)."""
    return statistics.median(a - b for a, b in zip(samples[name], samples[baseline], strict=True))


def bench_per_request(n: int, repetitions: int, held: bool) -> list[Result]:
    views = {PLAIN: "plain", REGISTERED: "registered", BARE_IN_VIEW: "bare", ENQUEUE: "enqueue"}
    if not held:
        views.update({EXTENSION: "extension", DECORATED: "decorated"})
    views[EXECUTOR] = "executor"
    with contenders(views) as made:
        samples = _measure({name: c.trial(n, held=held) for name, c in made.items()}, repetitions, per=n)
    group = f"{ENQUEUE_ONLY if held else PER_REQUEST} (N={n:,})"
    one = added(samples, ENQUEUE)
    rows = [per_request_row(group, samples, PLAIN, PLAIN)]
    for name in views:
        if name == PLAIN:
            continue
        note = f"+{added(samples, name):,.0f} ns per request"
        if name == ENQUEUE and held:
            target = {"target": "<= 3,000 ns added", "met": one <= TARGET_NS}
            rows.append(per_request_row(group, samples, name, PLAIN, note=note, **target))
        else:
            rows.append(per_request_row(group, samples, name, PLAIN, note=note))
    return rows


def bench_with_work(n: int, repetitions: int) -> list[Result]:
    views = {PLAIN: "plain", ENQUEUE: "enqueue", EXECUTOR: "executor"}
    with contenders(views) as made:
        samples = _measure({name: c.trial(n, wait=True) for name, c in made.items()}, repetitions, per=n)
    group = f"{WITH_WORK} (N={n:,} no-op tasks, {WORKERS} workers each)"
    return [
        per_request_row(group, samples, PLAIN, PLAIN, note="no work"),
        per_request_row(group, samples, ENQUEUE, PLAIN, note="until the last task is done; app context per task"),
        per_request_row(group, samples, EXECUTOR, PLAIN, note="a Future and a copied request context per task"),
        Result(
            group=group,
            name="TasQ vs Flask-Executor",
            ns=median(samples[ENQUEUE]),
            ratio=paired_ratio(samples, ENQUEUE, EXECUTOR),
            baseline=EXECUTOR,
            unit="ns/request",
            note=f"added per request: TasQ {added(samples, ENQUEUE):+,.0f} ns,"
            f" Flask-Executor {added(samples, EXECUTOR):+,.0f} ns",
        ),
    ]


def bench_per_task(n: int, repetitions: int) -> list[Result]:
    """What running in a Flask app costs each task: the app context the contract asks for."""
    bare = Engine(workers=WORKERS, name="bench-bare")
    hooked = Engine(workers=WORKERS, name="bench-hooked")
    hooked.add_hooks(EmptyAroundTask())
    app = Flask("bench-per-task")
    app.config["TASQ_WORKERS"] = WORKERS
    flask_engine = TasQ().init_app(app)
    bare.start()
    hooked.start()
    flask_engine.start()

    def tasks(engine: Engine) -> Trial:
        def run() -> float:
            enqueue = engine.enqueue
            return timed(lambda: ([enqueue(noop) for _ in range(n)], engine.join(300)))

        return run

    try:
        samples = _measure(
            {BARE: tasks(bare), FLASK_ENGINE: tasks(flask_engine), HOOKED: tasks(hooked)}, repetitions, per=n
        )
    finally:
        bare.close()
        hooked.close()
        flask_engine.close()
    group = f"{PER_TASK} (N={n:,})"
    return [
        per_request_row(group, samples, BARE, BARE, unit="ns/task"),
        per_request_row(
            group,
            samples,
            FLASK_ENGINE,
            BARE,
            unit="ns/task",
            target="<= 1.2x bare engine",
            met=paired_ratio(samples, FLASK_ENGINE, BARE) <= 1.2,
            note=f"+{added(samples, FLASK_ENGINE, BARE):,.0f} ns per task (app_context() push/pop and teardown)",
        ),
        per_request_row(
            group,
            samples,
            HOOKED,
            BARE,
            unit="ns/task",
            note=f"+{added(samples, HOOKED, BARE):,.0f} ns per task: the hook call alone, no Flask",
        ),
    ]


def run(quick: bool, *, n: int | None = None, repetitions: int | None = None) -> list[Result]:
    """``quick``: small N and few repetitions (a smoke run); ``n``/``repetitions`` override."""
    n = n or (2_000 if quick else 20_000)
    reps = repetitions or (3 if quick else 9)
    return [
        *bench_per_request(n, reps, held=True),
        *bench_per_request(n, reps, held=False),
        *bench_with_work(max(1, n // 4), reps),
        *bench_per_task(n * 2, reps),
    ]


if __name__ == "__main__":
    from benchmarks.report import print_tables

    print_tables(run(quick="--quick" in sys.argv))
