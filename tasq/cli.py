"""The ``tasq`` command: ``tasq worker myapp.tasks`` runs the workers of a distributed backend,
``tasq worker --store sqlite:///PATH myapp.tasks`` the tasks of a durable store."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from .backends import engine_class
from .backends.base import BrokerEngine, WorkerOptions

__all__ = ["main"]

EPILOG = """\
examples:
  tasq worker myapp.tasks --broker-url redis://localhost:6379/0
  TASQ_BROKER_URL=amqp://guest:guest@localhost:5672/ tasq worker myapp.app myapp.tasks -p 2 -t 16
  tasq worker --store sqlite:///var/lib/myapp/tasq.db myapp.app

The worker imports the modules you name (and whatever they import), finds their
@background functions, and runs the tasks your app sends. The engine your app makes
in those modules (Flask extension, Starlette middleware, TasQ(...)) reports each task:
its hooks, signals, on_done/on_failed and log lines fire in the worker process.
SIGTERM or SIGINT: running tasks finish (up to --shutdown-timeout), the rest go back
to the broker (or stay in the store) for the next worker; a second signal stops at once.
With --store, one process runs the tasks of that store's engines (TasQ(store=...) with
the same file and name), beside the app's own processes; start several for more.
"""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command != "worker":  # pragma: no cover - argparse requires a command
        parser.error("a command is needed: tasq worker ...")
    if args.store is not None:
        return _serve_store(parser, args)
    try:
        engine = engine_class(args.backend)
    except (ImportError, ValueError) as error:
        parser.error(str(error))
    if engine.runs_tasks_in_process or not issubclass(engine, BrokerEngine):
        parser.error(f"backend {args.backend!r} runs in the app's own process: it has no workers to start")
    options = WorkerOptions(
        modules=tuple(args.modules),
        broker_url=args.broker_url or None,
        processes=args.processes or os.cpu_count() or 1,
        threads=args.threads,
        shutdown_timeout=args.shutdown_timeout,
        names=tuple(args.name or ()),
        paths=tuple(args.path or ["."]),
        verbose=args.verbose,
    )
    try:
        return engine.serve(options)
    except ValueError as error:
        parser.error(str(error))


def _serve_store(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.processes not in (None, 1):
        parser.error("--store runs one process: start the command again for more processes")
    if args.broker_url and os.environ.get("TASQ_BROKER_URL") != args.broker_url:
        parser.error("--store and --broker-url exclude each other: a store is not a broker")
    try:
        from .stored.worker import serve

        return serve(
            args.store,
            args.modules,
            names=tuple(args.name or ()),
            threads=args.threads,
            shutdown_timeout=args.shutdown_timeout,
            paths=tuple(args.path or ["."]),
            verbose=args.verbose,
        )
    except (TypeError, ValueError) as error:
        parser.error(str(error))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tasq", description="TasQ: background tasks for Python web apps.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    worker = commands.add_parser(
        "worker",
        help="run workers for a distributed backend (dramatiq, celery)",
        description="Run worker processes that execute the tasks your app enqueues.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    worker.add_argument("modules", nargs="+", metavar="module", help="modules to import, e.g. myapp.tasks")
    worker.add_argument(
        "--broker-url",
        default=os.environ.get("TASQ_BROKER_URL"),
        help="redis://... or amqp://... (default: $TASQ_BROKER_URL, else the URL of the app's engine)",
    )
    worker.add_argument(
        "--backend",
        default=os.environ.get("TASQ_BACKEND") or "dramatiq",
        help="the distributed backend: dramatiq or celery (default: $TASQ_BACKEND, else dramatiq)",
    )
    worker.add_argument(
        "--store",
        default=os.environ.get("TASQ_STORE") or None,
        help="run the tasks of this durable store instead, sqlite:///PATH (default: $TASQ_STORE)",
    )
    worker.add_argument(
        "--processes",
        "-p",
        type=_positive_int,
        default=None,
        help=f"worker processes (default: the number of CPUs, {os.cpu_count() or 1} here; 1 with --store)",
    )
    worker.add_argument(
        "--threads", "-t", type=_positive_int, default=10, help="worker threads per process (default: 10)"
    )
    worker.add_argument(
        "--shutdown-timeout",
        type=_seconds,
        default=25.0,
        help="seconds a graceful stop waits for running tasks (default: 25)",
    )
    worker.add_argument(
        "--name",
        action="append",
        metavar="NAME",
        help="run the tasks of the engine of this name (TasQ(name=...), TASQ_NAME; repeatable); "
        "default: the engines the modules make, else 'default'",
    )
    worker.add_argument(
        "--path", "-P", action="append", help="add a directory to the import path (default: the current one)"
    )
    worker.add_argument("--verbose", "-v", action="count", default=0, help="log at DEBUG")
    return parser


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number


def _seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not number >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 seconds, not {value}")
    return number


if __name__ == "__main__":  # python -m tasq.cli worker ...
    logging.captureWarnings(True)
    sys.exit(main())
