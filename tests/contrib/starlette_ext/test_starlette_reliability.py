"""Promise 15 (docs/reliability.md): TestClient exit waits for tasks in flight; a client disconnect
cancels no task; async def tasks and sync tasks both run."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import Message

from tasq import TasQ, background
from tasq.contrib.starlette import TasQMiddleware
from tests.support import Recorder

pytestmark = pytest.mark.timeout(30)


@background
def sync_work(seconds: float) -> str:
    time.sleep(seconds)
    return "sync"


@background
async def async_work(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "async"


def make_app(recorder: Recorder, endpoint: Any, **options: Any) -> Starlette:
    middleware = Middleware(TasQMiddleware, on_done=recorder.on_done, on_failed=recorder.on_failed, **options)
    return Starlette(routes=[Route("/", endpoint, methods=["POST"])], middleware=[middleware])


def test_testclient_exit_waits_for_async_and_sync_tasks_in_flight() -> None:
    recorder = Recorder()

    async def enqueue(request: Request) -> JSONResponse:
        ids = [await async_work.aenqueue(0.5) for _ in range(20)]
        ids += [sync_work.enqueue(0.5) for _ in range(4)]
        return JSONResponse(ids)

    with TestClient(make_app(recorder, enqueue, workers=4, results=100)) as client:
        ids = client.post("/").json()
        engine: TasQ = client.app.middleware_stack.app.engine  # type: ignore[attr-defined]
        assert engine.stats().done < len(ids)  # still in flight as the client exits
    recorder.assert_once_each(ids)
    assert not recorder.failed
    assert sorted(engine.result(i).return_value for i in ids) == ["async"] * 20 + ["sync"] * 4  # type: ignore[union-attr]


def test_a_client_disconnect_cancels_no_task() -> None:
    recorder = Recorder()

    async def enqueue_then_stream(request: Request) -> StreamingResponse:
        await async_work.aenqueue(0.2)
        sync_work.enqueue(0.2)

        async def forever() -> AsyncIterator[bytes]:
            while True:
                yield b"."
                await asyncio.sleep(0.01)

        return StreamingResponse(forever())  # ends when the client goes away

    middleware: TasQMiddleware = make_app(recorder, enqueue_then_stream).build_middleware_stack().app  # type: ignore[attr-defined]

    async def request_then_disconnect() -> None:
        gone = asyncio.Event()
        sent: list[Message] = []
        received: list[int] = []

        async def receive() -> Message:
            received.append(1)
            if len(received) == 1:
                return {"type": "http.request", "body": b"", "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            sent.append(message)
            if message.get("body") and hang_up:
                gone.set()  # the client reads the first bytes, then hangs up

        scope = {"type": "http", "method": "POST", "path": "/", "headers": [], "query_string": b""}
        hang_up = True
        await asyncio.wait_for(middleware(scope, receive, send), 5)

        # A server may also cancel the request's task outright when its client disconnects.
        sent.clear()
        received.clear()
        hang_up = False
        gone.clear()
        request = asyncio.ensure_future(middleware(dict(scope), receive, send))
        while not any(message.get("body") for message in sent):
            await asyncio.sleep(0.005)
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request

    try:
        asyncio.run(request_then_disconnect())
        assert recorder.wait(4, timeout=10)
        assert sum(recorder.done.values()) == 4 and not recorder.failed
    finally:
        middleware.engine.close(timeout=5)


SYNC_TASKS_PAST_THE_DRAIN = """
import sys, time
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from tasq.contrib.starlette import TasQMiddleware

def report(task_id, error):
    print("failed", task_id, type(error).__name__, flush=True)

async def enqueue(request):
    return JSONResponse([request.state.tasq.enqueue(lambda: time.sleep(10)) for _ in range(2)])

middleware = Middleware(TasQMiddleware, workers=2, shutdown_timeout=0.2, on_failed=report)
app = Starlette(routes=[Route("/", enqueue, methods=["POST"])], middleware=[middleware])
with TestClient(app) as client:
    print("accepted", *client.post("/").json(), flush=True)
    time.sleep(0.2)
print("drained", flush=True)
"""


def test_tasks_cut_short_by_the_drain_are_not_reported_again_at_exit() -> None:
    # The engine closes itself at interpreter exit too; after the app's drain it must not
    # report (or wait for) the tasks it abandoned a second time.
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", SYNC_TASKS_PAST_THE_DRAIN], capture_output=True, text=True, timeout=30, check=True
    )
    lines = done.stdout.splitlines()
    assert (lines[0], sorted(lines[1:3]), lines[3:]) == (
        "accepted 1 2",
        ["failed 1 TaskCancelled", "failed 2 TaskCancelled"],
        ["drained"],  # and nothing more at exit
    ), done.stdout
    assert time.monotonic() - started < 8  # not waiting for the 10 s tasks, at the drain or at exit
