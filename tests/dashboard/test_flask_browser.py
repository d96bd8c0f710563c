"""The Flask dashboard in headless Chromium: a real app on a real server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, redirect, session

from tasq.contrib.flask import TasQ as FlaskTasQ
from tasq.contrib.flask_dashboard import mount_dashboard
from tests.dashboard import scenarios, tasks
from tests.dashboard.support import cancelling_source, chrome, warm, wsgi_server

pytestmark = pytest.mark.timeout(120)


def make_app() -> Flask:
    app = Flask("dashboard_browser")
    app.config.update(
        SECRET_KEY="tests-only",
        TASQ_WORKERS=4,
        TASQ_DASHBOARD="/tasq",
        TASQ_DASHBOARD_AUTH=lambda request: session.get("role"),
    )

    @app.get("/login/<role>")
    def login(role: str) -> Any:
        session["role"] = role
        return "signed in as " + role

    @app.get("/logout")
    def logout() -> Any:
        session.clear()
        return redirect("/")

    return app


@pytest.fixture(scope="module")
def site() -> Iterator[scenarios.Site]:
    app = make_app()
    # The engine has no cancel(task_id) yet: the dashboard reads a source that can.
    app.config["TASQ_DASHBOARD"] = None
    engine = _init(app)
    with wsgi_server(app) as base:
        yield scenarios.Site(
            base=base, mount="/tasq", quiet="/quiet", engine=engine, login=_login(base), anonymous_page="403"
        )
    for gate in tasks.gates.values():
        gate.set()
    engine.close(timeout=10, cancel_pending=True)


def _init(app: Flask) -> Any:
    engine = FlaskTasQ().init_app(app)
    source = cancelling_source(engine)  # the engine's own cancel once it has one
    auth = app.config["TASQ_DASHBOARD_AUTH"]
    mount_dashboard(app, source, prefix="/tasq", auth=auth)
    mount_dashboard(app, source, prefix="/quiet", auth=auth, show_args=False)
    warm(engine)
    return engine


def _login(base: str) -> Any:
    def login(driver: Any, role: str | None) -> None:
        driver.get(f"{base}/login/{role}" if role else f"{base}/logout")

    return login


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    with chrome() as browser:
        yield browser


@pytest.mark.parametrize("case", scenarios.ALL, ids=lambda case: case.__name__)
def test_flask_dashboard_in_a_browser(driver: Any, site: scenarios.Site, case: Any) -> None:
    case(driver, site)


def test_flask_forged_actions_change_nothing(driver: Any, site: scenarios.Site) -> None:
    scenarios.forged_actions_change_nothing(driver, site, "csrf_token")


def test_flask_security_headers(driver: Any, site: scenarios.Site) -> None:
    scenarios.security_headers(driver, site)
