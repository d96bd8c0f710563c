"""A small Django project whose views hand slow work to TasQ.

PostgreSQL when DATABASE_URL is set (postgres://user@host/db), SQLite next to this file otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
import django

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-project-only-not-a-secret")
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "tasq.contrib.django",
    "signups",
    # Django 6 has django.tasks built in; before, the django-tasks backport provides it.
    *(["django_tasks"] if django.VERSION < (6, 0) else []),
    # Django's auth and its admin's sign-in page: who may open the TasQ dashboard at /tasq/.
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
]
MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",  # the JSON API needs no CSRF middleware;
    "django.contrib.sessions.middleware.SessionMiddleware",  # the dashboard checks CSRF itself
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
STATIC_URL = "static/"
LOGIN_URL = "/admin/login/"  # where the dashboard sends an anonymous browser
ROOT_URLCONF = "djangodemo.urls"
WSGI_APPLICATION = "djangodemo.wsgi.application"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

DATABASES = {
    "default": dj_database_url.config(default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}", conn_max_age=600),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Ten worker threads write at once: wait for the lock instead of failing, and let
    # readers run beside the writer.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL;",
    }

# The engine: every option of tasq.TasQ, upper-cased.
TASQ = {
    "NAME": os.environ.get("TASQ_NAME", "django"),
    "WORKERS": int(os.environ.get("TASQ_WORKERS", "10")),
    "MAX_RETRY": 3,
    "RETRY_DELAY": 0.05,
    "SHUTDOWN_TIMEOUT": float(os.environ.get("TASQ_SHUTDOWN_TIMEOUT", "20")),
    # Scale-out: TASQ_BACKEND=dramatiq (or celery) TASQ_BROKER_URL=redis://... sends the @background tasks
    # to the workers of `python manage.py tasq_worker` instead of this process's pool.
    "BACKEND": os.environ.get("TASQ_BACKEND", "thread"),
    "BROKER_URL": os.environ.get("TASQ_BROKER_URL"),
}
# Django's own Tasks framework, on the same engine; with a distributed TASQ backend, Django's
# own immediate backend (TasQBackend keeps Django's results in the web process).
if TASQ["BACKEND"] == "thread":
    TASKS = {"default": {"BACKEND": "tasq.contrib.django.backend.TasQBackend"}}
else:
    _immediate = "django.tasks" if django.VERSION >= (6, 0) else "django_tasks"
    TASKS = {"default": {"BACKEND": f"{_immediate}.backends.immediate.ImmediateBackend"}}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        # DEBUG shows every task enqueued, started and done; INFO only retries and failures.
        "tasq": {"handlers": ["console"], "level": os.environ.get("TASQ_LOG_LEVEL", "INFO")},
        "django.tasks": {"handlers": ["console"], "level": "WARNING"},
        "django_tasks": {"handlers": ["console"], "level": "WARNING"},
    },
}
