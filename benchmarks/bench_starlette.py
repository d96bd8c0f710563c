"""Starlette: what one enqueue adds to a request, and TasQ beside Starlette's BackgroundTasks.

Every contender is the same Starlette app, driven in process by a minimal ASGI loop (one
request after another on one event loop, no network, no HTTP client), so that the figures
are about the app: routing, middleware, the endpoint, and what it does with the task.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message

from benchmarks.common import Result, Trial, measure, row
from tasq import TasQ, background
from tasq.contrib.starlette import TasQMiddleware

PER_REQUEST = "one enqueue inside a Starlette request (in-process ASGI, request time)"
WITH_WORK = "a request and its background work, done: TasQ vs Starlette BackgroundTasks"

PLAIN = "plain request"
MIDDLEWARE = "TasQMiddleware, no enqueue"
ENQUEUE = "TasQMiddleware + request.state.tasq.enqueue()"
DECORATED = "TasQMiddleware + @background .enqueue()"
AENQUEUE = "TasQMiddleware + await .aenqueue()"
BACKGROUND_SYNC = "BackgroundTasks (def: threadpool)"
BACKGROUND_ASYNC = "BackgroundTasks (async def: inline)"
TARGET_NS = 3000.0


def per_request_row(group: str, samples: dict[str, list[float]], name: str, baseline: str, **fields: Any) -> Result:
    return row(group, samples, name, baseline, **{"unit": "ns/request", **fields})


def noop() -> None:
    pass


async def anoop() -> None:
    pass


noop_task = background(noop)


async def plain(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def enqueue(request: Request) -> PlainTextResponse:
    request.state.tasq.enqueue(noop)
    return PlainTextResponse("ok")


async def enqueue_decorated(request: Request) -> PlainTextResponse:
    noop_task.enqueue()
    return PlainTextResponse("ok")


async def aenqueue(request: Request) -> PlainTextResponse:
    await noop_task.aenqueue()
    return PlainTextResponse("ok")


async def background_sync(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok", background=BackgroundTask(noop))


async def background_async(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok", background=BackgroundTask(anoop))


def app(endpoint: Callable[[Request], Any], engine: TasQ | None = None) -> Starlette:
    middleware = [] if engine is None else [Middleware(TasQMiddleware, tasq=engine)]
    return Starlette(routes=[Route("/", endpoint, methods=["POST"])], middleware=middleware)


async def requests(asgi: ASGIApp, n: int) -> None:
    """``n`` POST requests, one after another, each to its end (background work included)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    body: Message = {"type": "http.request", "body": b"", "more_body": False}

    async def receive() -> Message:
        return body

    async def send(message: Message) -> None:
        pass

    for _ in range(n):
        await asgi(dict(scope), receive, send)


@contextmanager
def engines(count: int) -> Iterator[list[TasQ]]:
    made = [TasQ(name=f"bench-{index}") for index in range(count)]
    for engine in made:
        engine.start()
    try:
        yield made
    finally:
        for engine in made:
            engine.close()


def trial(loop: asyncio.AbstractEventLoop, asgi: ASGIApp, n: int, engine: TasQ | None, wait: bool) -> Trial:
    def run() -> float:
        started = loop.time()
        loop.run_until_complete(requests(asgi, n))
        if engine is not None and wait and not engine.join(300):
            raise RuntimeError("the tasks did not finish")
        seconds = loop.time() - started
        if engine is not None:
            engine.join(300)  # untimed when not part of the figure: the next run starts clean
        return seconds

    return run


def _measure(trials: dict[str, Trial], repetitions: int, per: int) -> dict[str, list[float]]:
    for run in trials.values():
        run()  # first use: imports, caches, the engine's threads
    return measure(trials, repetitions, per)


def added(samples: dict[str, list[float]], name: str, baseline: str = PLAIN) -> float:
    """Median of the paired differences: ns this contender adds to each request."""
    return statistics.median(a - b for a, b in zip(samples[name], samples[baseline], strict=True))


def bench_per_request(loop: asyncio.AbstractEventLoop, n: int, repetitions: int) -> list[Result]:
    with engines(4) as (bare, queued, decorated, awaited):
        samples = _measure(
            {
                PLAIN: trial(loop, app(plain), n, None, wait=False),
                MIDDLEWARE: trial(loop, app(plain, bare), n, None, wait=False),
                ENQUEUE: trial(loop, app(enqueue, queued), n, queued, wait=False),
                DECORATED: trial(loop, app(enqueue_decorated, decorated), n, decorated, wait=False),
                AENQUEUE: trial(loop, app(aenqueue, awaited), n, awaited, wait=False),
            },
            repetitions,
            per=n,
        )
    group = f"{PER_REQUEST} (N={n:,})"
    one = added(samples, ENQUEUE)
    return [
        per_request_row(group, samples, PLAIN, PLAIN),
        per_request_row(group, samples, MIDDLEWARE, PLAIN, note=f"+{added(samples, MIDDLEWARE):,.0f} ns"),
        per_request_row(
            group,
            samples,
            ENQUEUE,
            PLAIN,
            target="<= 3,000 ns added",
            met=one <= TARGET_NS,
            note=f"+{one:,.0f} ns per request",
        ),
        per_request_row(group, samples, DECORATED, PLAIN, note=f"+{added(samples, DECORATED):,.0f} ns"),
        per_request_row(group, samples, AENQUEUE, PLAIN, note=f"+{added(samples, AENQUEUE):,.0f} ns"),
    ]


def bench_with_work(loop: asyncio.AbstractEventLoop, n: int, repetitions: int) -> list[Result]:
    with engines(1) as (engine,):
        samples = _measure(
            {
                PLAIN: trial(loop, app(plain), n, None, wait=True),
                ENQUEUE: trial(loop, app(enqueue, engine), n, engine, wait=True),
                BACKGROUND_SYNC: trial(loop, app(background_sync), n, None, wait=True),
                BACKGROUND_ASYNC: trial(loop, app(background_async), n, None, wait=True),
            },
            repetitions,
            per=n,
        )
    group = f"{WITH_WORK} (N={n:,} no-op tasks)"
    return [
        per_request_row(group, samples, PLAIN, PLAIN, note="no work"),
        per_request_row(group, samples, ENQUEUE, PLAIN, note="until the last task is done"),
        per_request_row(group, samples, BACKGROUND_SYNC, PLAIN, note="runs after the response, in the request"),
        per_request_row(group, samples, BACKGROUND_ASYNC, PLAIN, note="no ids, retries or drain"),
    ]


def run(quick: bool, *, n: int | None = None, repetitions: int | None = None) -> list[Result]:
    """``quick``: small N and few repetitions (a smoke run); ``n``/``repetitions`` override."""
    n = n or (2_000 if quick else 20_000)
    reps = repetitions or (3 if quick else 9)
    loop = asyncio.new_event_loop()
    try:
        return [*bench_per_request(loop, n, reps), *bench_with_work(loop, max(1, n // 4), reps)]
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


if __name__ == "__main__":
    import sys

    from benchmarks.report import print_tables

    print_tables(run(quick="--quick" in sys.argv))
