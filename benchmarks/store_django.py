"""Settings of the Django project that runs django-tasks-db in benchmarks/store_peers.py:
an SQLite file in WAL mode, as close to TasQ's store as it gets. The task is in
benchmarks/store_django_tasks.py."""

from __future__ import annotations

import os
from importlib.util import find_spec

SECRET_KEY = "benchmark"
USE_TZ = True
# Django 6 has django.tasks; before it, the django-tasks backport is an app of its own.
INSTALLED_APPS = ["django_tasks_db"] if find_spec("django.tasks") else ["django_tasks", "django_tasks_db"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("TASQ_BENCH_DJANGO_DB", "django-tasks-db.sqlite3"),
        "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", "timeout": 30},
    }
}
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
LOGGING_CONFIG = None
