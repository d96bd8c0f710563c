"""Django settings of this folder's tests (applied by conftest.py with settings.configure)."""

from __future__ import annotations

import os
import socket

import django


def _postgres_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


POSTGRES = _postgres_answers()

SECRET_KEY = "tests-only"
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.auth",  # the dashboard's users and its tasq.change_task permission
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "tasq.contrib.django",
    "tests.contrib.django_ext.testapp",
    *(["django_tasks"] if django.VERSION < (6, 0) else []),
]
DATABASES: dict[str, dict[str, object]] = {
    # PostgreSQL when it answers (promise 11, docs/reliability.md, needs it; those tests skip or fail
    # without it); SQLite otherwise. Persistent connections: the case where hygiene matters.
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "test",
        "USER": "postgres",
        "HOST": "127.0.0.1",
        "PORT": 5432,
        "CONN_MAX_AGE": 600,
        # One test database per run: the 3.11 and 3.13 suites may run side by side.
        "TEST": {"NAME": f"test_tasq_django_{os.getpid()}"},
    }
    if POSTGRES
    else {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:", "CONN_MAX_AGE": 600},
    "other": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
}
MIDDLEWARE = [  # what the dashboard's views need (pytest-django's live_server loads it once)
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
STATIC_URL = "/static/"  # pytest-django's live_server serves it
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
TASQ = {"WORKERS": 4, "MAX_RETRY": 3, "SHUTDOWN_TIMEOUT": 10.0}
TASKS = {"default": {"BACKEND": "tasq.contrib.django.backend.TasQBackend"}}
LOGGING_CONFIG = None  # pytest's caplog sees the records
