"""A small app for the SIGTERM tests: enqueues sleeping tasks and logs each outcome as a line.

Served by gunicorn in a subprocess; OUTCOME_LOG names the file every worker appends to.
Each line is one os.write() on an O_APPEND descriptor, so lines from workers never mix.
"""

from __future__ import annotations

import os
import time

from flask import Flask, jsonify, request

from tasq.contrib.flask import TasQ, task_done, task_enqueued, task_failed

app = Flask("sigterm_app")
app.config.from_prefixed_env("TESTAPP")  # TESTAPP_TASQ_WORKERS=8 -> TASQ_WORKERS = 8
tasq = TasQ(app)
_log = os.open(os.environ["OUTCOME_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def _line(*words: object) -> None:
    os.write(_log, (" ".join(map(str, words)) + "\n").encode())


@task_enqueued.connect_via(app)
def _enqueued(sender: Flask, task_id: int) -> None:
    _line("enqueued", os.getpid(), task_id)


@task_done.connect_via(app)
def _done(sender: Flask, task_id: int) -> None:
    _line("done", os.getpid(), task_id)


@task_failed.connect_via(app)
def _failed(sender: Flask, task_id: int, error: BaseException) -> None:
    _line("failed", os.getpid(), task_id, type(error).__name__)


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


@app.post("/enqueue")
def enqueue() -> object:
    count = int(request.args.get("n", "1"))
    seconds = float(request.args.get("ms", "3")) / 1000
    ids = [tasq.submit(_sleep, seconds) for _ in range(count)]
    return jsonify(pid=os.getpid(), ids=ids)


@app.get("/ready")
def ready() -> object:
    return jsonify(pid=os.getpid())
