"""The Flask dashboard in headless Chromium: a real app on a real server (RELIABILITY 23)."""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, redirect, session
from selenium.webdriver.common.by import By

from tasq.contrib.flask import TasQ as FlaskTasQ
from tasq.contrib.flask_dashboard import mount_dashboard
from tests.dashboard import scenarios, tasks
from tests.dashboard.support import CancellingSource, chrome, wait_until, warm, wsgi_server

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
    source = CancellingSource(engine)
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


def test_flask_dashboard_screenshot(site: scenarios.Site, tmp_path: Path) -> None:
    """The dashboard under some load, as a laptop shows it (TASQ_DASHBOARD_SCREENSHOT=path keeps it)."""
    engine = site.engine
    for n in range(300):
        engine.submit(tasks.quick, n)
    for n in range(40):
        engine.submit(tasks.later, f"report-{n}")
    for key in ("welcome-mail", "resize-avatar", "sync-crm"):
        engine.submit(tasks.hold, key, "user=42")
    engine.submit(tasks.fail, "SMTP server refused the connection: 421 too many connections", "to='ada@example.com'")
    engine.submit(tasks.flaky, "screenshot-flaky")
    for n in range(3):
        engine.enqueue(functools.partial(tasks.later, f"digest-{n}"), delay=600 + n)
    wait_until(lambda: engine.stats().running >= 3, what="three running tasks")
    with chrome(1280, 1000) as browser:
        browser.get(f"{site.base}/login/admin")
        browser.get(site.url("/"))
        wait_until(lambda: browser.find_elements(By.ID, "board"), what="the page")
        target = tmp_path / "dashboard.png"
        browser.save_screenshot(str(target))
    for key in ("welcome-mail", "resize-avatar", "sync-crm"):
        tasks.gate(key).set()
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    keep = os.environ.get("TASQ_DASHBOARD_SCREENSHOT")
    if keep:
        shutil.copyfile(target, keep)
