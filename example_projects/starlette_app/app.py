"""A webhook receiver on Starlette: acknowledge each delivery at once, process it in the background.

Run it with `python app.py` (uvicorn on http://127.0.0.1:8000) or `uvicorn app:app`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import signal
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.config import Config
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

import tasq
from tasq import Hooks, RetryTask, TaskCancelled
from tasq.contrib.starlette import TasQMiddleware, dashboard

# The dashboard's demo sign-in (HTTP basic against the environment), one module for this
# example and the FastAPI one: example_projects/demo_signin.py, beside this folder.
sys.path.append(str(Path(__file__).resolve().parent.parent))
from demo_signin import DASHBOARD, demo_auth, login

config = Config()  # environment variables
LOG_LEVEL = config("LOG_LEVEL", default="INFO")
# Stand-ins for the downstream service: how long one delivery takes, how often it is busy.
DELIVERY_SECONDS = config("WEBHOOK_DELIVERY_SECONDS", cast=float, default=0.005)
BUSY_RATE = config("WEBHOOK_BUSY_RATE", cast=float, default=0.1)

logging.basicConfig(level=LOG_LEVEL, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@tasq.background(max_retry=5, retry_delay=tasq.backoff(0.02, max=0.5))
async def deliver(event: dict[str, Any]) -> str:
    """Hand one event to the downstream service; when it is busy, try again later."""
    await asyncio.sleep(DELIVERY_SECONDS * random.uniform(0.5, 1.5))  # the HTTP call
    if random.random() < BUSY_RATE:
        raise RetryTask(f"downstream busy for event {event['id']}")
    return f"delivered {event['id']}"


class Metrics(Hooks):
    """What GET /stats reports; export the same numbers to Prometheus or StatsD the same way."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts = dict.fromkeys(("enqueued", "done", "failed", "retried", "cancelled"), 0)
        self._enqueued_at: dict[int, float] = {}
        self._latencies: deque[float] = deque(maxlen=10_000)

    def after_enqueue(self, task_id: int) -> None:
        with self._lock:
            self.counts["enqueued"] += 1
            self._enqueued_at[task_id] = time.perf_counter()

    def after_retry(self, task_id: int, error: BaseException) -> None:
        with self._lock:
            self.counts["retried"] += 1

    def after_done(self, task_id: int, return_value: object) -> None:
        with self._lock:
            self.counts["done"] += 1
            enqueued_at = self._enqueued_at.pop(task_id, None)
            if enqueued_at is not None:  # with a store, another process may have enqueued it
                self._latencies.append(time.perf_counter() - enqueued_at)

    def after_failed(self, task_id: int, error: BaseException) -> None:
        with self._lock:
            self.counts["failed"] += 1
            self.counts["cancelled"] += isinstance(error, TaskCancelled)
            self._enqueued_at.pop(task_id, None)

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            latencies = sorted(self._latencies)
            counts = dict(self.counts)

        def percentile(fraction: float) -> float:
            return latencies[min(len(latencies) - 1, int(fraction * len(latencies)))] * 1000 if latencies else 0.0

        return {**counts, "latency_ms": {"p50": percentile(0.5), "p99": percentile(0.99)}}


metrics = Metrics()


async def receive_webhook(request: Request) -> JSONResponse:
    try:
        event = await request.json()
    except ValueError:
        return JSONResponse({"error": "the body must be JSON"}, status_code=400)
    if not isinstance(event, dict) or not isinstance(event.get("id"), str):
        return JSONResponse({"error": 'expected an object with a string "id"'}, status_code=400)
    event["source"] = request.path_params["source"]
    # No engine named: inside a request, @background uses the middleware's engine.
    task_id = await deliver.aenqueue(event)
    return JSONResponse({"accepted": event["id"], "task_id": task_id}, status_code=202)


async def task_status(request: Request) -> JSONResponse:
    result = request.state.tasq.result(request.path_params["task_id"])
    if result is None:
        return JSONResponse({"error": "unknown task, or forgotten"}, status_code=404)
    error = None if result.error is None else repr(result.error)
    return JSONResponse({"id": result.id, "status": result.status.value, "attempts": result.attempts, "error": error})


async def stats(request: Request) -> JSONResponse:
    return JSONResponse(metrics.snapshot())


# The app's engine, made here so that the dashboard can show it; the middleware runs it.
engine = tasq.TasQ(
    name=config("TASQ_NAME", default="app"),  # with a broker, also the queue: celery.tasq.<name>
    # Scale-out: TASQ_BACKEND=celery (or dramatiq) TASQ_BROKER_URL=redis://... sends the
    # deliveries to the workers of `tasq worker app` instead of this process's threads.
    backend=config("TASQ_BACKEND", default="thread"),
    broker_url=config("TASQ_BROKER_URL", default=None),
    autostart=True,  # threads start with the first task, as the middleware's own engine does
    workers=config("TASQ_WORKERS", cast=int, default=10),
    results=config("TASQ_RESULTS", cast=int, default=1000),
    shutdown_timeout=config("TASQ_SHUTDOWN_TIMEOUT", cast=float, default=10.0),
    # TASQ_STORE=sqlite:///PATH keeps every accepted delivery in that file across crashes and
    # restarts, shared by every worker process (uvicorn --workers N).
    store=config("TASQ_STORE", default=None),
    store_lease=config("TASQ_STORE_LEASE", cast=float, default=30.0),
)

app = Starlette(
    routes=[
        Route("/webhooks/{source}", receive_webhook, methods=["POST"]),
        Route("/tasks/{task_id:int}", task_status),
        Route("/stats", stats),
        Route("/login", login),
        Mount(DASHBOARD, app=dashboard(engine, auth=demo_auth, login_url="/login")),
    ],
    middleware=[Middleware(TasQMiddleware, tasq=engine, hooks=[metrics])],
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    options = parser.parse_args()
    # uvicorn ends a graceful shutdown by raising SIGTERM again, so that the process dies of
    # it (status 143); the tasks were drained by then, so report the clean exit it was.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    uvicorn.run(app, host=options.host, port=options.port, log_level=LOG_LEVEL.lower())


if __name__ == "__main__":
    main()
