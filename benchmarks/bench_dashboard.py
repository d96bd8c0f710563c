"""The dashboard: one JSON response (``data.json``) with 10,000 finished tasks kept.

A Flask app with the dashboard mounted, called through WSGI in process (no server, no HTTP
client), after its engine ran 10,000 tasks of eight names (1% failing) that the dashboard's
source keeps for its per-name figures. Beside it, in the same run: the same app answering
``jsonify(engine.stats())`` (the least a status endpoint does), and the dashboard's page.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import sys
from collections.abc import Callable
from typing import Any

from flask import Flask, jsonify

from benchmarks.common import Result, Trial, measure, row, timed
from tasq.contrib.flask import TasQ

GROUP = "dashboard: one response with {n:,} finished tasks kept (Flask, WSGI in process)"
STATS = "jsonify(engine.stats())"
JSON = "dashboard data.json"
PAGE = "dashboard page (HTML)"
TARGET_MS = 20.0


def _task_named(index: int) -> Callable[[int], None]:
    def task(n: int) -> None:
        if n % 100 == 99:
            raise ValueError(f"task {n} fails, as one in a hundred does")

    task.__name__ = task.__qualname__ = f"job_{index}"
    return task


TASKS = [_task_named(index) for index in range(8)]


def make_app(n: int) -> tuple[Flask, Any]:
    app = Flask("bench_dashboard")
    app.config.update(
        SECRET_KEY="bench",
        TASQ_WORKERS=4,
        TASQ_DASHBOARD="/tasq",
        TASQ_DASHBOARD_AUTH=lambda request: "admin",
    )
    engine = TasQ().init_app(app)

    @app.get("/stats")
    def stats() -> Any:
        return jsonify(engine.stats())

    log = logging.getLogger("tasq")
    log.disabled = True  # a hundred failure tracebacks say nothing about speed
    try:
        for index in range(n):
            engine.submit(TASKS[index % len(TASKS)], index)
        if not engine.join(120):
            raise RuntimeError("the tasks did not finish")
    finally:
        log.disabled = False
    return app, engine


def call(app: Flask, path: str) -> Callable[[], None]:
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
    }
    status: list[str] = []

    def start_response(line: str, headers: object) -> None:
        status.append(line)

    def one() -> None:
        status.clear()
        body = b"".join(app.wsgi_app(dict(environ), start_response))  # type: ignore[arg-type]
        if not status[0].startswith("200") or not body:
            raise RuntimeError(f"{path} answered {status[0]}")

    return one


def trial(one: Callable[[], None], calls: int) -> Trial:
    def run() -> float:
        return timed(lambda: [one() for _ in range(calls)])

    return run


def run(quick: bool, *, n: int | None = None, repetitions: int | None = None) -> list[Result]:
    """``quick``: fewer repetitions (a smoke run); ``n`` finished tasks kept (default 10,000)."""
    n = n or 10_000
    reps = repetitions or (3 if quick else 9)
    calls = 5 if quick else 20
    app, engine = make_app(n)
    try:
        trials = {
            STATS: trial(call(app, "/stats"), calls),
            JSON: trial(call(app, "/tasq/data.json"), calls),
            PAGE: trial(call(app, "/tasq/"), calls),
        }
        for warm in trials.values():
            warm()
        samples = measure(trials, reps, calls)
    finally:
        engine.close(timeout=10)
    group = GROUP.format(n=n)
    fields: dict[str, Any] = {"unit": "ns/request"}
    results = [
        row(group, samples, STATS, STATS, **fields),
        row(group, samples, JSON, STATS, target=f"<= {TARGET_MS:.0f} ms", **fields),
        row(group, samples, PAGE, STATS, **fields),
    ]
    return [_met(result) for result in results]


def _met(result: Result) -> Result:
    if result.name != JSON:
        return result
    ms = result.ns / 1e6
    return dataclasses.replace(result, met=ms <= TARGET_MS, note=f"{ms:.2f} ms per response")


if __name__ == "__main__":
    from benchmarks.report import print_tables

    print_tables(run(quick="--quick" in sys.argv))
