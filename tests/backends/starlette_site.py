"""A Starlette app on a scale-out backend (Dramatiq; Celery with TASQ_BACKEND=celery): the
engine made at import and given to the middleware with ``tasq=``, so that ``tasq worker
tests.backends.starlette_site`` finds it (Starlette builds its middleware only at the first
request)."""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tasq import TasQ, background
from tasq.contrib.starlette import TasQMiddleware
from tests.backends.recording import EventLog

engine = TasQ(
    backend=os.environ.get("TASQ_BACKEND", "dramatiq"),
    broker_url=os.environ["TASQ_BROKER_URL"],
    name=os.environ["TASQ_TEST_ENGINE"],
)
events = EventLog(os.environ["TASQ_TEST_EVENTS"])
engine.add_hooks(events)
engine.on_done, engine.on_failed = events.on_done, events.on_failed


@background
async def shout(word: str) -> str:
    return word.upper()


async def send(request: Request) -> JSONResponse:
    return JSONResponse({"id": await shout.aenqueue(await request.json())})


app = Starlette(routes=[Route("/send", send, methods=["POST"])], middleware=[Middleware(TasQMiddleware, tasq=engine)])
