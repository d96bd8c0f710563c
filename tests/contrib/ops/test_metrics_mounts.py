"""/metrics as each integration mounts it: Flask's TASQ_METRICS, Starlette's asgi_app()."""

from __future__ import annotations

import threading

import pytest
from flask import Flask
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from tasq.contrib import prometheus
from tasq.contrib.flask import TasQ as FlaskTasQ
from tasq.contrib.starlette import TasQMiddleware, get_engine

pytestmark = pytest.mark.timeout(30)


def welcome() -> None:
    pass


def test_flask_tasq_metrics_mounts_metrics_at_the_path_it_names() -> None:
    app = Flask("metrics_mount")
    app.config.update(TASQ_METRICS="/ops/metrics", TASQ_NAME="flask-mount")
    extension = FlaskTasQ(app)

    @app.post("/signup")
    def signup() -> str:
        extension.submit(welcome)
        return "ok"

    engine = app.extensions["tasq"]
    try:
        client = app.test_client()
        assert client.post("/signup").status_code == 200
        assert engine.join(10)
        response = client.get("/ops/metrics")
        assert response.status_code == 200
        assert response.content_type.startswith("text/plain; version=0.0.4")
        line = f'tasq_tasks_succeeded_total{{engine="flask-mount",task="{__name__}.welcome"}} 1.0'
        assert line in response.get_data(as_text=True)
    finally:
        engine.close()


def test_flask_refuses_a_metrics_setting_it_cannot_mount() -> None:
    app = Flask("metrics_bad")
    app.config.update(TASQ_METRICS="metrics")
    with pytest.raises(ValueError, match="TASQ_METRICS"):
        FlaskTasQ(app)


def test_starlette_metrics_option_and_mounted_asgi_app() -> None:
    async def signup(request: object) -> object:
        from starlette.responses import PlainTextResponse

        get_engine(request).submit(welcome)  # type: ignore[arg-type]
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/signup", signup, methods=["POST"]), Mount("/metrics", prometheus.asgi_app())])
    finished = threading.Event()
    app.add_middleware(TasQMiddleware, name="starlette-mount", metrics=True, on_done=lambda task_id: finished.set())
    with TestClient(app) as client:
        assert client.post("/signup").status_code == 200
        assert finished.wait(10)
        line = f'tasq_tasks_succeeded_total{{engine="starlette-mount",task="{__name__}.welcome"}} 1.0'
        assert line in client.get("/metrics/").text
        assert client.post("/metrics/").status_code == 405


def test_starlette_refuses_a_metrics_option_that_is_not_a_bool() -> None:
    with pytest.raises(TypeError, match="metrics must be True or False"):
        TasQMiddleware(Starlette(), metrics="yes")  # type: ignore[arg-type]
