"""Promise 24 (docs/reliability.md): which engine a task goes to when two frameworks share a process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.timeout(60)

DJANGO = """
import django
from django.conf import settings
settings.configure(
    INSTALLED_APPS={apps},
    TASKS={{"default": {{"BACKEND": "tasq.contrib.django.backend.TasQBackend"}}}},
    TASQ={{"WORKERS": 1}},
)
django.setup()
try:
    from django.tasks import task_backends
except ImportError:  # Django < 6: the django-tasks backport
    from django_tasks import task_backends
backend = task_backends["default"]
"""


def run(body: str) -> list[str]:
    process = subprocess.run([sys.executable, "-c", textwrap.dedent(body)], capture_output=True, text=True, timeout=30)
    assert process.returncode == 0, process.stderr
    return process.stdout.split()


def test_background_in_a_flask_request_goes_to_the_flask_engine_with_django_configured() -> None:
    """24. Django settings configured, @background called in a Flask request: the Flask app's engine."""
    pytest.importorskip("flask")
    pytest.importorskip("django")
    out = run(DJANGO.format(apps='["tasq.contrib.django"]') + """
import flask, tasq
from tasq.contrib.django import get_engine
from tasq.contrib.flask import TasQ as FlaskTasQ
app = flask.Flask("shop")
FlaskTasQ(app)
@tasq.background
def job():
    pass
@app.get("/")
def view():
    return tasq.current_engine().name
name = app.test_client().get("/").text
print(name, tasq.current_engine() is get_engine())  # outside the request: Django's
app.extensions["tasq"].close(timeout=5)
get_engine().close(timeout=5)
""")
    assert out == ["shop", "True"]


def test_the_backend_without_the_app_warns_of_nothing_and_routes_background_to_its_engine() -> None:
    """24. TasQBackend without tasq.contrib.django in INSTALLED_APPS: check() is empty, @background uses its engine."""
    pytest.importorskip("django")
    out = run(DJANGO.format(apps="[]") + """
import tasq
from tasq.contrib.django import get_engine
print(len(backend.check()), tasq.current_engine() is get_engine())
get_engine().close(timeout=5)
""")
    assert out == ["0", "True"]
