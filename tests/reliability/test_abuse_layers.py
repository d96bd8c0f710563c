"""Promise 25 (docs/reliability.md): one engine per app, never two stacked silently."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(30)


def test_two_tasq_middleware_layers_on_one_app_refuse_to_start() -> None:
    """25. Starlette app with TasQMiddleware added twice: startup fails, saying why; nothing served."""
    pytest.importorskip("starlette")
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from tasq.contrib.starlette import TasQMiddleware

    app = Starlette()
    app.add_middleware(TasQMiddleware, workers=1)
    app.add_middleware(TasQMiddleware, workers=1)
    with pytest.raises(RuntimeError, match="two TasQMiddleware layers on one app"), TestClient(app):
        pass


def test_one_tasq_middleware_layer_starts_and_serves() -> None:
    """25. The same app with one layer starts, and a request sees its engine."""
    pytest.importorskip("starlette")
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from tasq.contrib.starlette import TasQMiddleware

    def index(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str(request.state.tasq.enqueue(lambda: None)))

    app = Starlette(routes=[Route("/", index)])
    app.add_middleware(TasQMiddleware, workers=1)
    with TestClient(app) as client:
        assert client.get("/").text == "1"
