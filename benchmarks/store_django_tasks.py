"""The no-op task django-tasks-db runs in benchmarks/store_peers.py."""

from __future__ import annotations

try:
    from django.tasks import task  # Django 6
except ImportError:
    from django_tasks import task  # the backport, on Django 4.2-5.2


@task()
def noop() -> None:
    pass
