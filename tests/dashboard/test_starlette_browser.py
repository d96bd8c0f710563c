"""The Starlette/FastAPI dashboard in headless Chromium, under uvicorn."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse
from starlette.routing import Mount, Route

from tasq import TasQ
from tasq.contrib.starlette import TasQMiddleware, dashboard
from tests.dashboard import scenarios, tasks
from tests.dashboard.support import asgi_server, cancelling_source, chrome, warm

pytestmark = pytest.mark.timeout(120)


async def who(request: Request) -> str | None:
    # A stand-in for the app's own login: an async auth rule, as FastAPI apps often have.
    role = request.cookies.get("who")
    return role if role in ("admin", "view") else None


async def login(request: Request) -> PlainTextResponse:
    response = PlainTextResponse("signed in")
    response.set_cookie("who", request.path_params["role"], httponly=True, samesite="lax")
    return response


async def logout(request: Request) -> RedirectResponse:
    response = RedirectResponse("/")
    response.delete_cookie("who")
    return response


@pytest.fixture(scope="module")
def site() -> Iterator[scenarios.Site]:
    engine = TasQ(workers=4, name="starlette-dashboard")
    source = cancelling_source(engine)  # the engine's own cancel once it has one
    app = Starlette(
        routes=[
            Route("/login/{role}", login),
            Route("/logout", logout),
            Mount("/tasq", app=dashboard(source, auth=who)),
            Mount("/quiet", app=dashboard(source, auth=who, show_args=False)),
        ],
        middleware=[Middleware(TasQMiddleware, tasq=engine)],
    )
    warm(engine)
    with asgi_server(app) as base:

        def sign_in(driver: Any, role: str | None) -> None:
            driver.get(f"{base}/login/{role}" if role else f"{base}/logout")

        yield scenarios.Site(
            base=base, mount="/tasq", quiet="/quiet", engine=engine, login=sign_in, anonymous_page="403"
        )
        for gate in tasks.gates.values():
            gate.set()
    engine.close(timeout=10, cancel_pending=True)


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    with chrome() as browser:
        yield browser


@pytest.mark.parametrize("case", scenarios.ALL, ids=lambda case: case.__name__)
def test_starlette_dashboard_in_a_browser(driver: Any, site: scenarios.Site, case: Any) -> None:
    case(driver, site)


def test_starlette_forged_actions_change_nothing(driver: Any, site: scenarios.Site) -> None:
    scenarios.forged_actions_change_nothing(driver, site, "csrf_token")


def test_starlette_security_headers(driver: Any, site: scenarios.Site) -> None:
    scenarios.security_headers(driver, site)
