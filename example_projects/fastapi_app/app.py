"""A webhook receiver on FastAPI: acknowledge each delivery at once, process it in the background.

Run it with `python app.py` (uvicorn on http://127.0.0.1:8000, docs at /docs) or `uvicorn app:app`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import signal
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Response
from pydantic import BaseModel

import tasq
from tasq import Hooks, RetryTask, TaskCancelled, TasQ
from tasq.contrib.starlette import TasQMiddleware, dashboard, get_engine

# The dashboard's demo sign-in (HTTP basic against the environment), one module for this
# example and the Starlette one: example_projects/demo_signin.py, beside this folder.
sys.path.append(str(Path(__file__).resolve().parent.parent))
from demo_signin import DASHBOARD, demo_auth, login

LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
# Stand-ins for the downstream service: how long one delivery takes, how often it is busy.
DELIVERY_SECONDS = float(os.environ.get("WEBHOOK_DELIVERY_SECONDS", "0.005"))
BUSY_RATE = float(os.environ.get("WEBHOOK_BUSY_RATE", "0.1"))

logging.basicConfig(level=LOG_LEVEL, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
logger = logging.getLogger("webhooks")


class Event(BaseModel):
    id: str
    type: str
    data: dict[str, Any] = {}


class Accepted(BaseModel):
    accepted: str
    task_id: int


class Ledger:
    """What became of each event: lets the receiver drop a provider's duplicate deliveries."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.status: dict[str, str] = {}

    def accept(self, event_id: str) -> bool:
        with self._lock:
            if event_id in self.status:
                return False
            self.status[event_id] = "accepted"
            return True

    def mark(self, event_id: str, status: str) -> None:
        with self._lock:
            self.status[event_id] = status


ledger = Ledger()


@tasq.background(max_retry=5, retry_delay=tasq.backoff(0.02, max=0.5))
async def deliver(event: dict[str, Any]) -> None:
    """Hand one event (the model's JSON fields: what a broker can carry) to the downstream
    service; when it is busy, try again later."""
    event_id = Event.model_validate(event).id
    await asyncio.sleep(DELIVERY_SECONDS * random.uniform(0.5, 1.5))  # the HTTP call
    if random.random() < BUSY_RATE:
        raise RetryTask(f"downstream busy for event {event_id}")
    ledger.mark(event_id, "delivered")  # this process's ledger: with TASQ_BACKEND, the worker's


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
            self._latencies.append(time.perf_counter() - self._enqueued_at.pop(task_id))

    def after_failed(self, task_id: int, error: BaseException) -> None:
        with self._lock:
            self.counts["failed"] += 1
            self.counts["cancelled"] += isinstance(error, TaskCancelled)
            self._enqueued_at.pop(task_id, None)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            latencies = sorted(self._latencies)
            counts = dict(self.counts)

        def percentile(fraction: float) -> float:
            return latencies[min(len(latencies) - 1, int(fraction * len(latencies)))] * 1000 if latencies else 0.0

        return {**counts, "latency_ms": {"p50": percentile(0.5), "p99": percentile(0.99)}}


metrics = Metrics()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    logger.info("webhook receiver ready")
    yield
    # TasQMiddleware drained the tasks before this runs: every status here is final.
    logger.info("webhook receiver stopped: %s", dict(Counter(ledger.status.values())))


# The app's engine, made here so that the dashboard can show it; the middleware runs it.
engine = TasQ(
    name=os.environ.get("TASQ_NAME", "app"),  # with a broker, also the queue: celery.tasq.<name>
    # Scale-out: TASQ_BACKEND=celery (or dramatiq) TASQ_BROKER_URL=redis://... sends the
    # deliveries to the workers of `tasq worker app` instead of this process's threads.
    backend=os.environ.get("TASQ_BACKEND", "thread"),
    broker_url=os.environ.get("TASQ_BROKER_URL"),
    autostart=True,  # threads start with the first task, as the middleware's own engine does
    workers=int(os.environ.get("TASQ_WORKERS", "10")),
    results=int(os.environ.get("TASQ_RESULTS", "1000")),
    shutdown_timeout=float(os.environ.get("TASQ_SHUTDOWN_TIMEOUT", "10")),
)

app = FastAPI(title="Webhook receiver", lifespan=lifespan)
app.add_middleware(TasQMiddleware, tasq=engine, hooks=[metrics])
app.mount(DASHBOARD, dashboard(engine, auth=demo_auth, login_url="/login"))
app.add_api_route("/login", login, include_in_schema=False)

Engine = Annotated[TasQ, Depends(get_engine)]


@app.post("/webhooks/{source}", status_code=202)
async def receive_webhook(source: str, event: Event, response: Response) -> Accepted | dict[str, str]:
    if not ledger.accept(event.id):
        response.status_code = 200  # a provider's redelivery: acknowledged, not processed twice
        return {"duplicate": event.id}
    # No engine named: inside a request, @background uses the middleware's engine.
    task_id = await deliver.aenqueue(event.model_dump(mode="json"))
    return Accepted(accepted=event.id, task_id=task_id)


@app.get("/events/{event_id}")
async def event_status(event_id: str) -> dict[str, str]:
    if event_id not in ledger.status:
        raise HTTPException(404, "unknown event")
    return {"id": event_id, "status": ledger.status[event_id]}


@app.get("/tasks/{task_id}")
async def task_status(task_id: int, engine: Engine) -> dict[str, Any]:
    result = engine.result(task_id)
    if result is None:
        raise HTTPException(404, "unknown task, or forgotten")
    error = None if result.error is None else repr(result.error)
    return {"id": result.id, "status": result.status.value, "attempts": result.attempts, "error": error}


@app.get("/stats")
async def stats() -> dict[str, Any]:
    return metrics.snapshot()


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
