"""TasQMiddleware's contract, in process: TestClient runs the lifespan on enter and exit."""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

import tasq
from tasq import Hooks, TaskCancelled, TasQ, TasQClosed, background, current_engine
from tasq.contrib.starlette import TasQMiddleware, get_engine, tasq_lifespan
from tests.support import Gate, Recorder

pytestmark = pytest.mark.timeout(30)

Endpoint = Callable[[Request], Any]


def make_app(*endpoints: tuple[str, Endpoint], lifespan: Any = None, **options: Any) -> Starlette:
    routes = [Route(path, endpoint, methods=["GET", "POST"]) for path, endpoint in endpoints]
    return Starlette(routes=routes, middleware=[Middleware(TasQMiddleware, **options)], lifespan=lifespan)


def middleware_of(app: Starlette) -> TasQMiddleware:
    layer: Any = app.middleware_stack
    while not isinstance(layer, TasQMiddleware):
        layer = layer.app
    return layer


@background
def where() -> str:
    return threading.current_thread().name


# -- configuration ---------------------------------------------------------------------


def test_engine_options_are_checked_when_the_middleware_is_built_and_start_no_thread() -> None:
    threads = threading.active_count()
    with pytest.raises(TypeError, match="workers must be an int"):
        TasQMiddleware(PlainTextResponse("x"), workers="4")
    with pytest.raises(ValueError, match="max_retry must be >= 1"):
        TasQMiddleware(PlainTextResponse("x"), max_retry=0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'wokers'"):
        TasQMiddleware(PlainTextResponse("x"), wokers=4)
    given = TasQ()
    with pytest.raises(TypeError, match="not both"):
        TasQMiddleware(PlainTextResponse("x"), tasq=given, workers=2)
    given.close()
    with pytest.raises(TypeError, match="tasq must be a TasQ engine"):
        TasQMiddleware(PlainTextResponse("x"), tasq="engine")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"sequence of tasq\.Hooks"):
        TasQMiddleware(PlainTextResponse("x"), hooks=Hooks())  # type: ignore[arg-type]
    middleware = TasQMiddleware(PlainTextResponse("x"), workers=3, max_retry=5)
    assert (middleware.engine.workers, middleware.engine.max_retry, middleware.engine.started) == (3, 5, False)
    assert threading.active_count() == threads
    middleware.engine.close()


def test_every_engine_option_is_a_middleware_option() -> None:
    engine_options = set(inspect.signature(TasQ.__init__).parameters) - {"self"}
    assert engine_options <= set(inspect.signature(TasQMiddleware.__init__).parameters)
    middleware = TasQMiddleware(app=PlainTextResponse("x"), shutdown_timeout=None, on_full="raise", queue_size=5)
    engine = middleware.engine  # app= as a keyword: how Starlette before 1.0 builds middleware
    assert (engine.shutdown_timeout, engine.on_full, engine.queue_size, engine.name) == (None, "raise", 5, "app")
    engine.close()


def test_lifespan_starts_the_engine_and_shutdown_drains_it() -> None:
    gate = Gate()

    async def enqueue(request: Request) -> JSONResponse:
        engine: TasQ = request.state.tasq
        return JSONResponse({"id": engine.enqueue(gate.task), "started": engine.started})

    app = make_app(("/", enqueue), workers=2)
    with TestClient(app) as client:
        engine = middleware_of(app).engine
        assert engine.started and not engine.closed
        assert client.post("/").json() == {"id": 1, "started": True}
        assert gate.wait_started(1)
        gate.open()
    assert engine.closed and engine.stats().done == 1


@pytest.mark.parametrize("style", ["Middleware(...)", "add_middleware", "FastAPI"])
def test_every_way_of_adding_it_puts_the_engine_on_request_state(style: str) -> None:
    async def show(request: Request) -> JSONResponse:
        engine = request.state.tasq
        same = engine is get_engine(request) is current_engine()
        return JSONResponse({"engine": engine.name, "same": same, "ran_on": where.enqueue() > 0})

    app: Starlette
    if style == "Middleware(...)":
        app = make_app(("/", show), name="mine")
    elif style == "add_middleware":
        app = Starlette(routes=[Route("/", show)])
        app.add_middleware(TasQMiddleware, name="mine")
    else:
        app = FastAPI()
        app.add_middleware(TasQMiddleware, name="mine")

        @app.get("/")
        async def fastapi_show(request: Request, engine: Annotated[TasQ, Depends(get_engine)]) -> dict[str, Any]:
            return {"engine": engine.name, "same": engine is request.state.tasq is current_engine(), "ran_on": True}

    with TestClient(app) as client:
        assert client.get("/").json() == {"engine": "mine", "same": True, "ran_on": True}


def test_websockets_get_the_engine_too() -> None:
    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"engine": websocket.state.tasq.name, "current": current_engine().name})
        await websocket.close()

    app = Starlette(routes=[WebSocketRoute("/ws", socket)], middleware=[Middleware(TasQMiddleware, name="ws")])
    with TestClient(app) as client, client.websocket_connect("/ws") as websocket:
        assert websocket.receive_json() == {"engine": "ws", "current": "ws"}


def test_get_engine_without_the_middleware_says_what_is_missing() -> None:
    async def show(request: Request) -> JSONResponse:
        get_engine(request)
        return JSONResponse({})

    with pytest.raises(LookupError, match="add TasQMiddleware"):
        TestClient(Starlette(routes=[Route("/", show)])).get("/")


# -- where tasks run -------------------------------------------------------------------


def test_background_functions_use_the_apps_engine_async_on_its_loop_sync_on_workers() -> None:
    seen: dict[str, object] = {}

    @background
    async def on_loop() -> None:
        seen["async"] = threading.current_thread().name
        seen["loop"] = asyncio.get_running_loop()

    async def enqueue(request: Request) -> JSONResponse:
        seen["request loop"] = asyncio.get_running_loop()
        await on_loop.aenqueue()
        return JSONResponse({"sync": where.enqueue()})

    app = make_app(("/", enqueue), name="web", results=10)
    with TestClient(app) as client:
        task_id = client.post("/").json()["sync"]
        engine = middleware_of(app).engine
        assert engine.join(5)
        assert engine.result(task_id).return_value.startswith("tasq-web-worker-")  # type: ignore[union-attr]
    assert seen["async"] == "tasq-web-loop"
    assert seen["loop"] is not seen["request loop"]
    assert tasq.default().stats().enqueued == 0  # nothing went to the process default engine


def test_outside_a_request_background_falls_back_to_the_apps_engine() -> None:
    app = make_app(name="fallback")
    with TestClient(app):
        assert current_engine() is middleware_of(app).engine
        found: list[TasQ] = []
        thread = threading.Thread(target=lambda: found.append(current_engine()))  # a thread the app started
        thread.start()
        thread.join()
        assert found == [middleware_of(app).engine]
    assert current_engine() is not middleware_of(app).engine  # closed: no longer the fallback


def test_each_request_uses_its_own_apps_engine_when_two_apps_run() -> None:
    async def show(request: Request) -> PlainTextResponse:
        return PlainTextResponse(current_engine().name)

    first, second = make_app(("/", show), name="first"), make_app(("/", show), name="second")
    with TestClient(first) as first_client, TestClient(second) as second_client:
        assert first_client.get("/").text == "first"  # not the newest app's engine
        assert second_client.get("/").text == "second"


def test_other_scopes_pass_through_untouched() -> None:
    seen: list[Scope] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(dict(scope))

    middleware = TasQMiddleware(inner)
    asyncio.run(middleware({"type": "custom"}, None, None))  # type: ignore[arg-type]
    assert seen == [{"type": "custom"}]
    assert not middleware.engine.started
    middleware.engine.close()


def test_aenqueue_waits_for_room_without_blocking_the_event_loop() -> None:
    gate = Gate()
    rescue = threading.Timer(10, gate.open)  # a blocked loop fails the asserts below, not the timeout
    rescue.start()

    async def fill(request: Request) -> JSONResponse:
        engine: TasQ = request.state.tasq
        engine.enqueue(gate.task)  # runs, and holds the only worker
        assert gate.wait_started(1)
        engine.enqueue(gate.task)  # pending: the queue is full
        return JSONResponse({})

    async def add(request: Request) -> JSONResponse:
        return JSONResponse({"id": await request.state.tasq.aenqueue(gate.task)})

    async def ping(request: Request) -> PlainTextResponse:
        return PlainTextResponse("pong")

    app = make_app(("/fill", fill), ("/add", add), ("/ping", ping), workers=1, queue_size=1)

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            await client.post("/fill")
            waiting = asyncio.create_task(client.post("/add"))
            for _ in range(20):
                assert (await client.get("/ping")).text == "pong"
            assert not waiting.done()  # still waiting for room, while the loop served 20 requests
            gate.open()
            assert (await waiting).json() == {"id": 3}

    try:
        asyncio.run(scenario())
    finally:
        rescue.cancel()
        gate.open()
        middleware_of(app).engine.close(timeout=5)


# -- lifespan: the app's own, none at all, failures -------------------------------------


def test_the_apps_own_lifespan_runs_inside_the_engines() -> None:
    events: list[str] = []
    engine = TasQ(workers=2, name="own")
    recorder = Recorder()
    engine.on_done = recorder.on_done

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        events.append(f"app startup, engine started: {engine.started}")
        where.enqueue()  # from the app's lifespan: the middleware's engine
        yield {"resource": "open"}
        events.append(f"app shutdown, engine closed: {engine.closed}, done: {recorder.finished}")

    async def show(request: Request) -> JSONResponse:
        return JSONResponse({"resource": request.state.resource, "engine": request.state.tasq.name})

    app = make_app(("/", show), lifespan=lifespan, tasq=engine)
    with TestClient(app) as client:
        events.append(f"serving, engine started: {engine.started}")
        assert client.get("/").json() == {"resource": "open", "engine": "own"}
    assert events == [
        "app startup, engine started: False",
        "serving, engine started: True",
        "app shutdown, engine closed: True, done: 1",  # drained before the app's shutdown
    ]


def test_a_failing_app_startup_fails_and_starts_no_engine() -> None:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        raise RuntimeError("no database")
        yield

    app = make_app(lifespan=lifespan)
    with pytest.raises(RuntimeError, match="no database"), TestClient(app):
        pass
    engine = middleware_of(app).engine
    assert engine.closed and engine.stats().workers == 0  # never started, and not left open


def test_a_closed_engine_given_with_tasq_fails_startup_clearly() -> None:
    engine = TasQ()
    engine.close()
    app = make_app(tasq=engine)
    with pytest.raises(TasQClosed, match="was closed"), TestClient(app):
        pass


def test_an_app_reused_for_a_second_lifespan_gets_a_new_engine() -> None:
    async def enqueue(request: Request) -> JSONResponse:
        return JSONResponse({"id": where.enqueue()})

    app = make_app(("/", enqueue))
    engines = []
    for _ in range(2):
        with TestClient(app) as client:
            assert client.post("/").json() == {"id": 1}
            engines.append(middleware_of(app).engine)
    assert engines[0] is not engines[1]
    assert all(engine.closed and engine.stats().done == 1 for engine in engines)


def test_a_bare_asgi_app_without_lifespan_support_gets_it_from_the_middleware() -> None:
    async def bare(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http", "this app knows nothing of lifespan"
        where.enqueue()
        await PlainTextResponse("queued")(scope, receive, send)

    middleware = TasQMiddleware(bare, workers=1)
    with TestClient(middleware) as client:
        assert middleware.engine.started
        assert client.get("/").text == "queued"
    assert middleware.engine.closed and middleware.engine.stats().done == 1


def test_without_lifespan_the_engine_starts_with_its_first_task() -> None:
    async def ping(request: Request) -> PlainTextResponse:
        return PlainTextResponse("pong")

    async def enqueue(request: Request) -> JSONResponse:
        return JSONResponse({"id": where.enqueue()})

    app = make_app(("/ping", ping), ("/", enqueue))
    client = TestClient(app)  # not entered: no lifespan, as under `uvicorn --lifespan off`
    assert client.get("/ping").text == "pong"
    engine = middleware_of(app).engine
    assert not engine.started  # a request alone starts no thread
    assert client.post("/").json() == {"id": 1}
    assert engine.started and engine.join(5)
    engine.close()


def test_shutdown_is_bounded_and_reports_what_it_cancelled(caplog: pytest.LogCaptureFixture) -> None:
    gate = Gate()
    recorder = Recorder()

    async def enqueue(request: Request) -> JSONResponse:
        return JSONResponse([request.state.tasq.enqueue(gate.task) for _ in range(3)])

    app = make_app(
        ("/", enqueue), workers=2, shutdown_timeout=0.2, on_done=recorder.on_done, on_failed=recorder.on_failed
    )
    try:
        with TestClient(app) as client:
            ids = client.post("/").json()
            assert gate.wait_started(2)
    finally:
        gate.open()
    recorder.assert_once_each(ids)
    assert all(isinstance(errors[0], TaskCancelled) for errors in recorder.failed.values())
    assert len(recorder.failed) == 3  # two ran past the bound, one never started
    assert "engine 'app' shut down in" in caplog.text and "3 cancelled" in caplog.text


# -- lifecycle events: logs and hooks ----------------------------------------------------


def test_lifecycle_events_are_logged_at_debug_with_the_task_id(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="tasq")

    async def enqueue(request: Request) -> JSONResponse:
        return JSONResponse({"id": where.enqueue()})

    with TestClient(make_app(("/", enqueue))) as client:
        task_id = client.post("/").json()["id"]
    lines = [(record.getMessage(), getattr(record, "task_id", None)) for record in caplog.records]
    for event in ("enqueued", "started (attempt 1)", "done"):
        assert (f"task {task_id} {event}", task_id) in lines


def test_no_event_logging_unless_debug_is_on(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tasq")
    with TestClient(make_app(("/", lambda request: JSONResponse(where.enqueue())))) as client:
        client.post("/")
    assert not [record for record in caplog.records if record.levelno == logging.DEBUG]


def test_hooks_receive_every_event_for_metrics() -> None:
    class Counting(Hooks):
        def __init__(self) -> None:
            self.events: list[str] = []

        def after_enqueue(self, task_id: int) -> None:
            self.events.append("enqueued")

        def after_done(self, task_id: int, return_value: object) -> None:
            self.events.append("done")

        def after_failed(self, task_id: int, error: BaseException) -> None:
            self.events.append(f"failed: {type(error).__name__}")

    def boom() -> None:
        raise ValueError("boom")

    async def enqueue(request: Request) -> JSONResponse:
        return JSONResponse([request.state.tasq.enqueue(where), request.state.tasq.enqueue(boom)])

    counting = Counting()
    logging.getLogger("tasq").disabled = True  # the engine logs the failure; not wanted here
    try:
        with TestClient(make_app(("/", enqueue), hooks=[counting])) as client:
            client.post("/")
    finally:
        logging.getLogger("tasq").disabled = False
    assert sorted(counting.events) == ["done", "enqueued", "enqueued", "failed: ValueError"]


# -- tasq_lifespan ------------------------------------------------------------------------


def test_tasq_lifespan_starts_and_drains_an_engine_in_the_apps_own_lifespan() -> None:
    engine = TasQ(workers=2, name="lifespan")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        async with tasq_lifespan(engine) as started:
            assert started is engine and engine.started
            yield {"tasq": engine}

    async def enqueue(request: Request) -> JSONResponse:
        same = request.state.tasq is current_engine() is engine  # current: the fallback
        return JSONResponse({"id": where.enqueue(), "same": same})

    app = Starlette(routes=[Route("/", enqueue, methods=["POST"])], lifespan=lifespan)
    with TestClient(app) as client:
        assert client.post("/").json() == {"id": 1, "same": True}
    assert engine.closed and engine.stats().done == 1
