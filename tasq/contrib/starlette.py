"""Starlette and FastAPI: a pure ASGI middleware that gives an app its own TasQ engine."""

from __future__ import annotations

import inspect
import logging
import time
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..context import register_resolver, reset_current_engine, set_current_engine
from ..engine import TasQ
from ..exceptions import TasQClosed, TasQError
from ..hooks import Hooks
from ..options import OPTION_NAMES, defaults, instruments_from_settings
from .starlette_dashboard import dashboard

__all__ = ["TasQMiddleware", "dashboard", "get_engine", "tasq_lifespan"]

logger = logging.getLogger("tasq")


_TWO_LAYERS = (
    "two TasQMiddleware layers on one app: the inner one's engine would never see a task. "
    "Add TasQMiddleware once, and pass it hooks=[...] for metrics or tracing"
)


async def _refuse_startup(receive: Receive, send: Send, message: str) -> None:
    """Fail the lifespan's startup with ``message``, and raise it (as Starlette's router does):
    the server says why and does not serve."""
    await receive()  # lifespan.startup
    await send({"type": "lifespan.startup.failed", "message": message})
    raise RuntimeError(message)


class TasQMiddleware:
    """Owns one engine per app: starts it with the app, drains it at shutdown, serves it to requests.

    ``TasQMiddleware(app, workers=4, ...)`` builds the engine from TasQ's own options;
    ``TasQMiddleware(app, tasq=engine)`` adopts one. ``hooks`` are added to the engine;
    ``metrics=True`` and ``tracing=True`` instrument it (``tasq.contrib.prometheus``, served
    by ``app.mount("/metrics", prometheus.asgi_app())``, and ``tasq.contrib.opentelemetry``;
    see ``tasq.options.Instruments``); ``log_events`` logs enqueued/started/done at DEBUG (default: when
    the "tasq" logger is enabled for DEBUG as the engine starts).
    """

    # ``app`` can be a keyword too (Starlette before 1.0 builds middleware with app=...). The
    # engine options are TasQ's own, declared once in tasq.options; the signature that
    # inspect and help() show lists them (see below the class).
    def __init__(
        self,
        app: ASGIApp,
        *,
        tasq: TasQ | None = None,
        hooks: Sequence[Hooks] = (),
        log_events: bool | None = None,
        metrics: bool = False,
        tracing: bool = False,
        **options: Any,
    ) -> None:
        unknown = sorted(set(options) - set(OPTION_NAMES))
        if unknown:
            raise TypeError(f"TasQMiddleware() got an unexpected keyword argument {unknown[0]!r}")
        given = options
        if tasq is not None and not isinstance(tasq, TasQ):
            raise TypeError(f"tasq must be a TasQ engine, not {type(tasq).__name__}")
        if tasq is not None and given:
            raise TypeError(f"pass engine options or tasq=, not both (got {', '.join(sorted(given))})")
        if isinstance(hooks, Hooks) or not all(isinstance(h, Hooks) for h in hooks):
            raise TypeError("hooks must be a sequence of tasq.Hooks instances")
        if log_events is not None and not isinstance(log_events, bool):
            raise TypeError(f"log_events must be True, False or None, not {log_events!r}")
        if not isinstance(metrics, bool):  # a path is Flask's: here the app mounts asgi_app()
            raise TypeError(f"metrics must be True or False, not {metrics!r}")
        self._instruments = instruments_from_settings(
            {"metrics": metrics, "tracing": tracing}, key=lambda name: "TasQMiddleware()"
        )
        self.app = app
        self._options: dict[str, Any] = {"autostart": True, "name": "app", **given}
        self._hooks = tuple(hooks)
        self._log_events = log_events
        self._adopted = tasq is not None
        # Builds (and so validates) the engine now; constructing one starts no thread.
        self.engine = tasq if tasq is not None else TasQ(**self._options)
        self._ready = False  # hooks added, and started if it cannot start itself
        self._own(self.engine)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            if scope["type"] == "lifespan":
                outer = scope.get("tasq.middleware")
                if outer is not None and outer is not self:
                    # This layer's engine will never see a task: closed, so that no resolver
                    # hands @background calls to it (it is the newest app engine).
                    self.engine.close(wait=False)
                    await _refuse_startup(receive, send, _TWO_LAYERS)
                    return
                scope["tasq.middleware"] = self
                await self._lifespan(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        if not self._ready:
            self._prepare(lazily=True)  # no lifespan: the server has none, or it is off
        engine = self.engine
        state = scope.get("state")
        if state is None:
            scope["state"] = {"tasq": engine}
        else:
            state["tasq"] = engine
        token = set_current_engine(engine)
        try:
            await self.app(scope, receive, send)
        finally:
            reset_current_engine(token)

    def _renew(self) -> TasQ:
        engine = self.engine
        if engine.closed and not self._adopted:  # a new lifespan after a shutdown (a TestClient reused)
            engine = self.engine = TasQ(**self._options)
            self._own(engine)
        return engine

    def _own(self, engine: TasQ) -> None:
        if self._hooks and engine.started:
            raise RuntimeError("hooks can only be added to an engine that has not started")
        for hook in self._hooks:
            engine.add_hooks(hook)
        if self._instruments.metrics:  # the instruments are the layer below the integrations
            from . import prometheus

            prometheus.instrument(engine)
        if self._instruments.tracing:
            from . import opentelemetry

            opentelemetry.instrument(engine)
        _remember(engine)

    def _prepare(self, lazily: bool = False) -> TasQ:
        engine = self._renew()
        if engine.closed and not lazily:
            raise TasQClosed(
                f"the engine {engine.name!r} given with tasq= was closed (by an earlier shutdown?): "
                "give TasQMiddleware engine options instead, and it makes a new engine for each lifespan"
            )
        if not engine.started and not engine.closed:
            _add_log_events(engine, self._log_events)
            if lazily and not engine.autostart:
                engine.start()
        self._ready = True
        return engine

    async def _drain(self) -> None:
        self._ready = False  # a request after this shutdown gets a new engine (see _renew)
        await _drain(self.engine)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not await self._wrap_lifespan(self.app, scope, receive, send):
            # A bare ASGI app that knows nothing of lifespan: the engine still gets one.
            await self._wrap_lifespan(_plain_lifespan, scope, receive, send)

    async def _wrap_lifespan(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> bool:
        """Run ``app``'s lifespan with the engine's inside it; False if ``app`` does not speak lifespan."""
        failure: BaseException | None = None
        spoke = False

        async def app_receive() -> Message:
            nonlocal failure, spoke
            if failure is not None:
                raise failure  # unwinds the app's lifespan after startup.failed was reported
            message = await receive()
            spoke = True
            if message["type"] == "lifespan.startup":
                try:
                    self._prepare()
                except (TasQError, RuntimeError) as error:
                    failure = error
                    await send({"type": "lifespan.startup.failed", "message": f"TasQ: {error}"})
                    raise
            elif message["type"] == "lifespan.shutdown":
                # Before the app's own shutdown: tasks may need what its lifespan still holds open.
                await self._drain()
            return message

        async def app_send(message: Message) -> None:
            nonlocal failure
            if failure is not None:
                return  # the failure was reported already; the server expects nothing more
            if message["type"] == "lifespan.startup.complete":
                try:
                    self.engine.start()  # after the app's startup, so tasks find what it made
                except (TasQError, RuntimeError) as error:
                    failure = error
                    await send({"type": "lifespan.startup.failed", "message": f"TasQ: {error}"})
                    return
            elif message["type"] == "lifespan.startup.failed":
                self.engine.close()  # never started: what the app's startup enqueued is reported cancelled
            await send(message)

        token = set_current_engine(self._renew())  # for tasks the app's own lifespan enqueues
        try:
            await app(scope, app_receive, app_send)
        except Exception:
            if spoke:
                raise
            logger.debug(
                "the app does not handle lifespan; TasQMiddleware answers it", exc_info=True, extra={"task_id": None}
            )
        finally:
            reset_current_engine(token)
        return spoke


async def _plain_lifespan(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "lifespan.startup.complete"})
    await receive()
    await send({"type": "lifespan.shutdown.complete"})


_own_parameters = list(inspect.signature(TasQMiddleware.__init__).parameters.values())[:-1]
TasQMiddleware.__init__.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [
        *_own_parameters,
        *(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=value) for name, value in defaults().items()),
    ],
    return_annotation=None,
)


def get_engine(connection: HTTPConnection) -> TasQ:
    """The engine of the app serving this request (a FastAPI dependency: ``Depends(get_engine)``)."""
    engine = connection.scope.get("state", {}).get("tasq")
    if not isinstance(engine, TasQ):
        raise LookupError("no TasQ engine on this request: add TasQMiddleware to the app")
    return engine


@asynccontextmanager
async def tasq_lifespan(engine: TasQ, *, log_events: bool | None = None) -> AsyncIterator[TasQ]:
    """For an app's own lifespan: start ``engine`` on enter, drain it on exit."""
    if not isinstance(engine, TasQ):
        raise TypeError(f"tasq_lifespan needs a TasQ engine, not {type(engine).__name__}")
    if not engine.started:
        _add_log_events(engine, log_events)
    engine.start()
    _remember(engine)
    token = set_current_engine(engine)
    try:
        yield engine
    finally:
        reset_current_engine(token)
        await _drain(engine)


async def _drain(engine: TasQ) -> None:
    """Close ``engine`` within its ``shutdown_timeout``; what could not finish is reported cancelled."""
    if engine in _drained:
        return
    _drained.add(engine)
    cancelled_before = engine.stats().cancelled
    began = time.monotonic()
    # close() waits on threads: off the event loop, which may still have work to finish.
    await anyio.to_thread.run_sync(engine.shutdown, "the app shut down")
    stats = engine.stats()
    logger.log(
        logging.WARNING if stats.cancelled > cancelled_before else logging.INFO,
        "engine %r shut down in %.2fs: %d task(s) done, %d failed, of which %d cancelled",
        engine.name,
        time.monotonic() - began,
        stats.done,
        stats.failed,
        stats.cancelled,
        extra={"task_id": None},
    )


class _LogEvents(Hooks):
    """The lifecycle events Starlette has no signals for, as DEBUG lines on the "tasq" logger."""

    def after_enqueue(self, task_id: int) -> None:
        logger.debug("task %d enqueued", task_id, extra={"task_id": task_id})

    def before_task(self, task_id: int, attempt: int) -> None:
        logger.debug("task %d started (attempt %d)", task_id, attempt, extra={"task_id": task_id})

    def after_done(self, task_id: int, return_value: object) -> None:
        logger.debug("task %d done", task_id, extra={"task_id": task_id})


def _add_log_events(engine: TasQ, wanted: bool | None) -> None:
    # Any hook takes the engine off its fastest path, so this one is only there when it is read.
    if wanted is None:
        wanted = logger.isEnabledFor(logging.DEBUG)
    if wanted and engine not in _logging:
        _logging.add(engine)
        engine.add_hooks(_LogEvents())


_logging: weakref.WeakSet[TasQ] = weakref.WeakSet()
_drained: weakref.WeakSet[TasQ] = weakref.WeakSet()

# The engines apps own, newest last: @background code outside any request (a thread the app
# started, its lifespan) uses the newest one still open rather than the process default.
_app_engines: list[weakref.ref[TasQ]] = []


def _remember(engine: TasQ) -> None:
    _app_engines[:] = [ref for ref in _app_engines if (e := ref()) is not None and not e.closed and e is not engine]
    _app_engines.append(weakref.ref(engine))


def _app_engine() -> TasQ | None:
    for ref in reversed(_app_engines):
        engine = ref()
        if engine is not None and not engine.closed:
            return engine
    return None


# Outside a request (a script, a worker thread of another library), the newest app's engine:
# asked only when no framework with a context of its own (Flask's app context) answered.
register_resolver(_app_engine, fallback=True)
