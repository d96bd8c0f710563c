"""`make demo`: the sign-up service under gunicorn (gthread), loaded with real sign-ups."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from example_projects.webdemo import WebDemo

DATABASE = Path(tempfile.gettempdir()) / "tasq-flask-demo.db"


def command(port: int) -> list[str]:
    """The README's command, on the demo's port; one worker process so /stats sees every task."""
    server = [sys.executable, "-m", "gunicorn", "welcome:create_app()", "--preload", "--bind", f"127.0.0.1:{port}"]
    return [*server, "--worker-class", "gthread", "--threads", "16"]


def body(number: int) -> dict[str, object]:
    # Every 500th address bounces for good (a failed task); the mail server is busy 10% of
    # the time (a retried task).
    domain = "invalid" if number % 500 == 499 else "mail"
    return {"email": f"user{number}@{domain}.example"}


DEMO = WebDemo(
    name="Flask sign-up service (gunicorn gthread)",
    directory=Path(__file__).parent,
    command=command,
    path="/signup",
    body=body,
    stats_path="/stats",
    env={"DATABASE_URL": f"sqlite:///{DATABASE}", "RESET_DATABASE": "1", "LOG_LEVEL": "ERROR", "MAIL_BUSY_RATE": "0.1"},
    keep_open=True,  # `make demo` on a terminal leaves this one up until Enter is pressed
)
