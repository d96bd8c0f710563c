"""Mounting the dashboard: nobody gets in by default, and each mount reads its settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, session
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

import tasq
from tasq.contrib.flask import TasQ as FlaskTasQ
from tasq.contrib.starlette import dashboard
from tests.dashboard import tasks
from tests.dashboard.support import wait_until

pytestmark = pytest.mark.timeout(30)


def flask_app(**config: Any) -> Flask:
    app = Flask("mounts")
    app.config.update(SECRET_KEY="tests-only", TASQ_WORKERS=2, TASQ_DASHBOARD="/tasq")
    app.config.update(config)

    @app.get("/login/<role>")
    def login(role: str) -> str:
        session["role"] = role
        return role

    return app


@pytest.fixture
def engines() -> Iterator[list[tasq.TasQ]]:
    made: list[tasq.TasQ] = []
    yield made
    for engine in made:
        engine.close(timeout=5, cancel_pending=True)


def test_flask_refuses_to_mount_without_an_auth_rule() -> None:
    with pytest.raises(ValueError, match=r"TASQ_DASHBOARD_AUTH.*nobody gets in by default"):
        FlaskTasQ(flask_app())
    with pytest.raises(TypeError, match="callable"):
        FlaskTasQ(flask_app(TASQ_DASHBOARD_AUTH="admin"))
    with pytest.raises(ValueError, match="secret_key"):
        FlaskTasQ(flask_app(SECRET_KEY=None, TASQ_DASHBOARD_AUTH=lambda request: "admin"))
    with pytest.raises(TypeError, match="TASQ_DASHBOARD_SHOW_ARGS"):
        FlaskTasQ(flask_app(TASQ_DASHBOARD_AUTH=lambda request: "admin", TASQ_DASHBOARD_SHOW_ARGS="no"))
    with pytest.raises(ValueError, match="a path such as"):
        FlaskTasQ(flask_app(TASQ_DASHBOARD="tasq", TASQ_DASHBOARD_AUTH=lambda request: "admin"))


def test_flask_mounts_from_its_config(engines: list[tasq.TasQ]) -> None:
    app = flask_app(
        TASQ_DASHBOARD_AUTH=lambda request: session.get("role"),
        TASQ_DASHBOARD_SHOW_ARGS=False,
        TASQ_DASHBOARD_LOGIN_URL="/login",
    )
    engine = FlaskTasQ().init_app(app)
    engines.append(engine)
    client = app.test_client()
    assert client.get("/tasq/").status_code == 302
    assert client.get("/tasq/").headers["Location"] == "/login?next=/tasq/"
    for method in ("GET", "HEAD", "POST", "OPTIONS", "DELETE"):
        assert client.open("/tasq/data.json", method=method).status_code == 403, method
    assert client.options("/tasq").status_code == 403  # never an Allow list for nobody
    client.get("/login/view")
    engine.submit(tasks.quick, 12345)
    wait_until(lambda: engine.stats().done == 1, what="the task")
    data = client.get("/tasq/data.json").get_json()
    assert data["names"][0]["name"] == "tests.dashboard.tasks.quick" and data["engine"] == "mounts"
    assert "12345" not in client.get("/tasq/data.json").get_data(as_text=True)
    assert client.get("/tasq").status_code == 200 and client.head("/tasq/").data == b""
    assert client.post("/tasq/tasks/1/retry", data={"csrf_token": "x"}).status_code == 403


def test_flask_admin_token_is_bound_to_the_session(engines: list[tasq.TasQ]) -> None:
    app = flask_app(TASQ_DASHBOARD_AUTH=lambda request: session.get("role"))
    engine = FlaskTasQ().init_app(app)
    engines.append(engine)
    task_id = engine.submit(tasks.fail, "flask mount")
    wait_until(lambda: engine.stats().failed == 1, what="the failure")
    admin, other = app.test_client(), app.test_client()
    admin.get("/login/admin")
    other.get("/login/admin")
    page = admin.get("/tasq/").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    same = {"Origin": "http://localhost", "Accept": "application/json"}
    assert other.post(f"/tasq/tasks/{task_id}/retry", data={"csrf_token": token}, headers=same).status_code == 403
    answer = admin.post(f"/tasq/tasks/{task_id}/retry", data={"csrf_token": token}, headers=same)
    assert answer.status_code == 200 and answer.get_json()["new_task_id"] == task_id + 1


def test_starlette_refuses_to_mount_without_an_auth_rule(engines: list[tasq.TasQ]) -> None:
    engine = tasq.TasQ(workers=1)
    engines.append(engine)
    with pytest.raises(ValueError, match="nobody gets in by default"):
        dashboard(engine)
    with pytest.raises(TypeError, match=r"a dashboard needs a tasq\.TasQ engine"):
        dashboard(object(), auth=lambda request: "admin")  # type: ignore[arg-type]


def test_starlette_session_cookie_and_token(engines: list[tasq.TasQ]) -> None:
    engine = tasq.TasQ(workers=1, name="starlette-mount")
    engines.append(engine)
    app = Starlette(routes=[Mount("/tasq", app=dashboard(engine, auth=lambda request: request.headers.get("x-role")))])
    engine.start()
    task_id = engine.submit(tasks.fail, "starlette mount")
    wait_until(lambda: engine.stats().failed == 1, what="the failure")
    with TestClient(app, base_url="http://testserver") as client:
        assert client.get("/tasq/").status_code == 403
        assert "set-cookie" not in client.get("/tasq/").headers  # no session for nobody
        page = client.get("/tasq/", headers={"x-role": "admin"})
        assert page.status_code == 200
        cookie = page.headers["set-cookie"]
        assert "tasq_session=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert "Path=/tasq" in cookie
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        headers = {"x-role": "admin", "origin": "http://testserver", "accept": "application/json"}
        refused = client.post(f"/tasq/tasks/{task_id}/retry", data={"csrf_token": "no"}, headers=headers)
        assert refused.status_code == 403
        elsewhere = {**headers, "origin": "http://evil.example"}
        forged = client.post(f"/tasq/tasks/{task_id}/retry", data={"csrf_token": token}, headers=elsewhere)
        assert forged.status_code == 403
        done = client.post(f"/tasq/tasks/{task_id}/retry", data={"csrf_token": token}, headers=headers)
        assert done.status_code == 200 and done.json()["ok"] is True
        assert client.head("/tasq/data.json", headers=headers).content == b""
        assert client.post("/tasq/tasks/abc/retry", data={"csrf_token": token}, headers=headers).status_code == 404
        assert client.request("OPTIONS", "/tasq/", headers=headers).status_code == 405
