"""A Flask app for gunicorn whose engine shares the test's store (``TASQ_STORE``) and name:
it runs the tasks the test process stores, which this process never enqueued."""

from __future__ import annotations

import os

from flask import Flask

from tasq.contrib.flask import FlaskTasQ

app = Flask(__name__)
app.config.update(TASQ_NAME="exit", TASQ_STORE=os.environ["TASQ_STORE"], TASQ_STORE_POLL=0.05)
FlaskTasQ(app)


@app.get("/")
def index() -> str:
    return "up"
