"""``python manage.py tasq_worker``: the project's ``tasq worker``, for a distributed TASQ backend."""

from __future__ import annotations

import importlib.util
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tasq import cli
from tasq.contrib.django.conf import engine_options


class Command(BaseCommand):  # type: ignore[misc]  # Django ships no type hints
    help = (
        "Run the workers of settings.TASQ['BACKEND'] (dramatiq or celery) for this project's @background "
        "tasks: by default those in the tasks module of every installed app."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "modules", nargs="*", metavar="module", help="modules with @background functions (default: <app>.tasks)"
        )
        parser.add_argument("--processes", "-p", type=int, help="worker processes (default: the number of CPUs)")
        parser.add_argument("--threads", "-t", type=int, help="threads per process (default: TASQ['WORKERS'])")
        parser.add_argument("--shutdown-timeout", type=float, help="seconds a graceful stop waits for running tasks")

    def handle(self, *modules: str, **options: Any) -> None:
        engine = engine_options()
        if engine["backend"] == "thread":
            raise CommandError(
                "settings.TASQ['BACKEND'] is 'thread': tasks run in the web process and need no worker; "
                "set it to 'dramatiq' or 'celery' (with 'BROKER_URL') to run them on workers"
            )
        found = list(modules) or _tasks_modules()
        if not found:
            raise CommandError("no installed app has a tasks module: name the modules with your @background functions")
        argv = ["worker", "tasq.contrib.django.worker", *found, "--backend", engine["backend"]]
        if engine["broker_url"]:
            argv += ["--broker-url", engine["broker_url"]]
        argv += ["--threads", str(options["threads"] or engine["workers"])]
        if options["processes"]:
            argv += ["--processes", str(options["processes"])]
        if options["shutdown_timeout"] is not None:
            argv += ["--shutdown-timeout", str(options["shutdown_timeout"])]
        if options["verbosity"] > 1:
            argv.append("--verbose")
        status = cli.main(argv)
        if status:
            raise CommandError(f"tasq worker stopped with status {status}", returncode=status)


def _tasks_modules() -> list[str]:
    return [
        f"{config.name}.tasks"
        for config in apps.get_app_configs()
        if not config.name.startswith(("django.", "tasq.")) and importlib.util.find_spec(f"{config.name}.tasks")
    ]
