# ruff: noqa: N999 - gunicorn reads ./gunicorn.conf.py by this name
"""gunicorn settings, read from this directory: `gunicorn` serves the project on 127.0.0.1:8000."""

import os

wsgi_app = "djangodemo.wsgi:application"
bind = os.environ.get("BIND", "127.0.0.1:8000")
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
# One worker process by default: /stats/ counts the tasks of the process that answers it.
workers = int(os.environ.get("GUNICORN_WORKERS", "1"))
threads = 16
preload_app = True  # safe: TasQ starts no thread before the first task, in each worker
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
control_socket_disable = True  # gunicorn >= 24: no control socket in ~/.gunicorn


def on_starting(server: object) -> None:
    """Migrate once, in the master, before any worker is forked."""
    import django
    from django.core.management import call_command
    from django.db import connections

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangodemo.settings")
    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    demo_users()
    connections.close_all()  # no database connection may cross fork() into the workers


def demo_users() -> None:
    """A demo's sign-in for the dashboard: user "admin" (superuser) with $DASHBOARD_PASSWORD,
    user "view" (staff) with $DASHBOARD_VIEW_PASSWORD; none made when they are not set."""
    from django.contrib.auth import get_user_model

    users = get_user_model()
    demo = (("admin", "DASHBOARD_PASSWORD", True), ("view", "DASHBOARD_VIEW_PASSWORD", False))
    for username, variable, superuser in demo:
        password = os.environ.get(variable)
        if not password:
            continue
        user, _ = users.objects.get_or_create(username=username)
        user.is_staff, user.is_superuser = True, superuser
        user.set_password(password)
        user.save()
