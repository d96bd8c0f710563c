"""``python manage.py tasq_worker``: the project's ``tasq worker``, for a distributed TASQ backend."""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tasq import cli
from tasq.backends import engine_class
from tasq.backends.base import BrokerEngine
from tasq.contrib.django.conf import engine_options

# Imported first by each worker process: Django set up, then these two put over settings.TASQ.
WORKER_SETTINGS = "tasq.contrib.django.management.worker_settings"
BACKEND = "TASQ_DJANGO_WORKER_BACKEND"
BROKER_URL = "TASQ_DJANGO_WORKER_BROKER_URL"


class Command(BaseCommand):  # type: ignore[misc]  # Django ships no type hints
    help = (
        "Run the workers of settings.TASQ['BACKEND'] (dramatiq or celery) for this project's @background "
        "tasks: by default those in the tasks module of every installed app."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "modules", nargs="*", metavar="module", help="modules with @background functions (default: <app>.tasks)"
        )
        parser.add_argument(
            "--backend",
            help="the distributed backend: dramatiq or celery (default: settings.TASQ['BACKEND']); "
            "the worker processes' engine is made with it",
        )
        parser.add_argument("--broker-url", help="redis://... or amqp://... (default: settings.TASQ['BROKER_URL'])")
        parser.add_argument("--processes", "-p", type=int, help="worker processes (default: the number of CPUs)")
        parser.add_argument("--threads", "-t", type=int, help="threads per process (default: TASQ['WORKERS'])")
        parser.add_argument("--shutdown-timeout", type=float, help="seconds a graceful stop waits for running tasks")

    def handle(self, *modules: str, **options: Any) -> None:
        engine = engine_options()
        backend = options["backend"] or engine["backend"]
        broker_url = options["broker_url"] or engine["broker_url"] or os.environ.get("TASQ_BROKER_URL")
        if not options["backend"] and backend == "thread":
            raise CommandError(
                "settings.TASQ['BACKEND'] is 'thread': tasks run in the web process and need no worker; "
                "set it to 'dramatiq' or 'celery' (with 'BROKER_URL') to run them on workers"
            )
        _check_backend(backend, broker_url)
        found = list(modules) or _tasks_modules()
        if not found:
            raise CommandError("no installed app has a tasks module: name the modules with your @background functions")
        # Every worker process (this one too) puts these over settings.TASQ as it sets Django up.
        os.environ[BACKEND] = backend
        os.environ[BROKER_URL] = broker_url or ""
        argv = ["worker", WORKER_SETTINGS, *found, "--backend", backend]
        if broker_url:
            argv += ["--broker-url", broker_url]
        argv += ["--threads", str(engine["workers"] if options["threads"] is None else options["threads"])]
        if options["processes"] is not None:
            argv += ["--processes", str(options["processes"])]
        if options["shutdown_timeout"] is not None:
            argv += ["--shutdown-timeout", str(options["shutdown_timeout"])]
        if options["verbosity"] > 1:
            argv.append("--verbose")
        status = cli.main(argv)
        if status:
            raise CommandError(f"tasq worker stopped with status {status}", returncode=status)


def _check_backend(backend: str, broker_url: str | None) -> None:
    """A backend that has workers, and a URL it speaks: refused here, by the option's name."""
    try:
        found = engine_class(backend)
    except (ImportError, ValueError) as error:
        raise CommandError(f"--backend: {error}") from error
    if found.runs_tasks_in_process or not issubclass(found, BrokerEngine):
        raise CommandError(f"--backend {backend!r} runs tasks in the web process: it has no workers to start")
    if not broker_url:
        raise CommandError(f"backend {backend!r} needs a broker: set settings.TASQ['BROKER_URL'] or pass --broker-url")
    try:
        found.check_broker_url(broker_url)
    except ValueError as error:
        raise CommandError(f"--broker-url: {error}") from error


def _tasks_modules() -> list[str]:
    return [
        f"{config.name}.tasks"
        for config in apps.get_app_configs()
        if not config.name.startswith(("django.", "tasq.")) and importlib.util.find_spec(f"{config.name}.tasks")
    ]
