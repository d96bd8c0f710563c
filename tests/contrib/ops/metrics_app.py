"""A Flask app with TASQ_METRICS=True, served by gunicorn with two workers in the metrics tests.

Each request enqueues ``ok`` tasks that succeed and ``bad`` tasks that fail; PROMETHEUS_MULTIPROC_DIR
(set by the test) puts the workers' metrics in one directory, which /metrics adds up.
"""

from __future__ import annotations

import os
import time

from flask import Flask, jsonify, request

from tasq.contrib.flask import TasQ

app = Flask("metrics_app")
app.config.update(TASQ_METRICS=True, TASQ_WORKERS=4, TASQ_NAME="shop")
tasq = TasQ(app)


def succeed() -> None:
    time.sleep(0.001)


def fail() -> None:
    raise ValueError("this task fails")


@app.post("/enqueue")
def enqueue() -> object:
    ids = [tasq.submit(succeed) for _ in range(int(request.args.get("ok", "0")))]
    ids += [tasq.submit(fail) for _ in range(int(request.args.get("bad", "0")))]
    time.sleep(0.02)  # a sync worker busy here lets the other worker take the next request
    return jsonify(pid=os.getpid(), ids=ids)


@app.get("/ready")
def ready() -> object:
    return jsonify(pid=os.getpid())
