"""A Flask app on a scale-out backend (Dramatiq; Celery with TASQ_BACKEND=celery), as a user
would write it: the same module runs in the web process (the test) and in ``tasq worker tests.backends.flask_site``."""

from __future__ import annotations

import os

from flask import Flask, current_app, g

from tasq import background
from tasq.contrib.flask import TasQ, task_done, task_failed, task_started
from tests.backends.recording import EventLog

app = Flask("flask_site")
app.config.update(
    TASQ_BACKEND=os.environ.get("TASQ_BACKEND", "dramatiq"),
    TASQ_BROKER_URL=os.environ["TASQ_BROKER_URL"],
    TASQ_NAME=os.environ["TASQ_TEST_ENGINE"],
)
TasQ(app)
events = EventLog(os.environ["TASQ_TEST_EVENTS"])


@task_started.connect_via(app)
def on_started(sender: Flask, task_id: int) -> None:
    events.write("signal_started", task_id, app=sender.name)


@task_done.connect_via(app)
def on_done(sender: Flask, task_id: int) -> None:
    events.write("signal_done", task_id, app=sender.name)
    events.write("on_done", task_id)  # what Events.wait() waits for


@task_failed.connect_via(app)
def on_failed(sender: Flask, task_id: int, error: BaseException) -> None:
    events.write("signal_failed", task_id, error=type(error).__name__)
    events.write("on_failed", task_id)


@background
def app_name(suffix: str) -> str:
    g.seen = suffix  # an app context of its own, in the worker
    return f"{current_app.name}{g.seen}"


@app.post("/send")
def send() -> dict[str, int]:
    return {"id": app_name.enqueue("!")}
