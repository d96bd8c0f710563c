"""Prometheus metrics for TasQ engines: ``instrument(engine)``, then serve ``wsgi_app()`` or ``asgi_app()``.

Each task is counted in plain Python by the thread that sees it (each thread owns its
tally, so nothing is locked) and the tallies are summed when Prometheus scrapes. Under
gunicorn's N processes (``PROMETHEUS_MULTIPROC_DIR`` set, prometheus_client's multiprocess
mode) each process writes its sums to prometheus_client's files once a second, at each
scrape it serves and when it exits; the ``/metrics`` of any worker then adds up all of them.
"""

from __future__ import annotations

import atexit
import os
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client import multiprocess as _multiprocess

import tasq

from .counting import DURATION_BUCKETS, WAIT_BUCKETS, Metrics, multiprocess_dir
from .export import RegistryCollector, Writer

__all__ = [
    "CONTENT_TYPE", "DURATION_BUCKETS", "WAIT_BUCKETS", "asgi_app", "child_exit", "flush", "instrument", "scrape",
    "wsgi_app",
]  # fmt: skip

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_collectors: weakref.WeakKeyDictionary[CollectorRegistry, RegistryCollector] = weakref.WeakKeyDictionary()
_instrumented: weakref.WeakKeyDictionary[tasq.TasQ, Metrics] = weakref.WeakKeyDictionary()


def instrument(engine: tasq.TasQ, registry: CollectorRegistry | None = None) -> None:
    """Count ``engine``'s tasks in the metrics of this module; before the engine starts.

    ``registry`` (default: prometheus_client's global ``REGISTRY``) is where a single process
    serves them; in multiprocess mode they go to ``PROMETHEUS_MULTIPROC_DIR`` instead.
    """
    if not isinstance(engine, tasq.TasQ):
        raise TypeError(f"instrument() needs a tasq.TasQ engine, not {type(engine).__name__}")
    if registry is not None and not isinstance(registry, CollectorRegistry):
        raise TypeError(f"registry must be a prometheus_client CollectorRegistry, not {type(registry).__name__}")
    if engine in _instrumented:
        raise ValueError(f"engine {engine.name!r} already has metrics")
    directory = multiprocess_dir()
    if directory is not None and not os.path.isdir(directory):
        raise ValueError(f"PROMETHEUS_MULTIPROC_DIR={directory!r} is not a directory: create it before the app starts")
    metrics = Metrics(engine, in_process=engine.runs_tasks_in_process)
    engine.add_hooks(metrics)  # refuses a started engine, before anything else is changed
    _instrumented[engine] = metrics
    if directory is not None:
        metrics.flush = _writer.write
        _writer.add(metrics)
        return
    registry = REGISTRY if registry is None else registry
    collector = _collectors.get(registry)
    if collector is None:
        collector = _collectors[registry] = RegistryCollector()
        registry.register(collector)
    collector.metrics.append(metrics)


_writer = Writer()


def _after_fork_in_child() -> None:
    for metrics in list(_instrumented.values()):
        metrics.reset()  # a forked child counts from zero: what the parent counted is the parent's
    _writer.after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)


def flush() -> None:
    """Write this process's counts now (multiprocess mode; otherwise there is nothing to do)."""
    _writer.write()


def _at_exit() -> None:
    if not _writer.metrics or multiprocess_dir() is None:
        return
    _writer.write()
    _multiprocess.mark_process_dead(  # type: ignore[no-untyped-call]
        os.getpid()
    )


atexit.register(_at_exit)


def child_exit(server: object, worker: Any) -> None:
    """gunicorn's ``child_exit`` server hook, for a gunicorn config file: a worker that died
    without its own exit (SIGKILL) leaves no live gauges behind."""
    if multiprocess_dir() is not None:
        _multiprocess.mark_process_dead(  # type: ignore[no-untyped-call]
            worker.pid
        )


# -- serving ------------------------------------------------------------------------------


def scrape(registry: CollectorRegistry | None = None) -> bytes:
    """The text a ``/metrics`` endpoint answers: every process's sums in multiprocess mode."""
    if multiprocess_dir() is not None:
        _writer.write()
        collected = CollectorRegistry()
        _multiprocess.MultiProcessCollector(collected)  # type: ignore[no-untyped-call]
        return generate_latest(collected)
    return generate_latest(REGISTRY if registry is None else registry)


WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def wsgi_app(registry: CollectorRegistry | None = None) -> WSGIApp:
    """A WSGI app that serves ``scrape()`` to GET and HEAD."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD"), ("Content-Length", "0")])
            return [b""]
        body = scrape(registry)
        start_response("200 OK", [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body)))])
        return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

    return app


ASGIApp = Callable[[dict[str, Any], Callable[..., Any], Callable[..., Any]], Any]


def asgi_app(registry: CollectorRegistry | None = None) -> ASGIApp:
    """An ASGI app that serves ``scrape()``: ``app.mount("/metrics", asgi_app())``."""
    import asyncio

    async def app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            return
        if scope.get("method") not in ("GET", "HEAD"):
            await send({"type": "http.response.start", "status": 405, "headers": [(b"allow", b"GET, HEAD")]})
            await send({"type": "http.response.body", "body": b""})
            return
        body = await asyncio.to_thread(scrape, registry)
        headers = [(b"content-type", CONTENT_TYPE.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body})

    return app
