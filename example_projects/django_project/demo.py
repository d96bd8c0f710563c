"""`make demo`: this project under gunicorn (gthread, --preload), loaded with signups."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from example_projects.webdemo import WebDemo

# A fresh SQLite database per run unless DATABASE_URL names one (e.g. PostgreSQL).
_SQLITE = Path(tempfile.gettempdir()) / f"tasq-django-demo-{os.getpid()}.sqlite3"
_DATABASE = os.environ.get("DATABASE_URL") or f"sqlite:///{_SQLITE}"

DEMO = WebDemo(
    name="Django signups (gunicorn gthread)",
    directory=Path(__file__).parent,
    command=lambda port: [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"],
    path="/signups/",
    body=lambda number: {"email": f"user{number}@example.com", "work_ms": 2},
    stats_path="/stats/",
    env={"DATABASE_URL": _DATABASE},
    sign_in="django",
)
