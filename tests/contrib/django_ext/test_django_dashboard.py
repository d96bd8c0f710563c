"""The Django dashboard in headless Chromium: Django's auth, permission and CSRF."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import include, path

from tasq import TasQ
from tasq.contrib.django.dashboard import dashboard_urls, role_of_user
from tests.dashboard import scenarios, tasks
from tests.dashboard.support import cancelling_source, chrome, warm

pytestmark = [pytest.mark.timeout(180), pytest.mark.django_db(transaction=True)]

# This module is the test URLconf: the dashboard of an engine of its own (the suite closes
# the process's engine after every test), and the stock URLconf beside it.
engine = TasQ(workers=4, name="django-dashboard")
source = cancelling_source(engine)  # the engine's own cancel once it has one


def login_page(request: HttpRequest) -> HttpResponse:
    return HttpResponse("a login form")


urlpatterns = [
    path("tasq/", include((dashboard_urls(source), "tasq"), namespace="tasq")),
    path("quiet/", include((dashboard_urls(source, show_args=False), "quiet"), namespace="quiet")),
    path("stock/", include("tasq.contrib.django.urls")),
    path("login/", login_page),
]

DJANGO_SETTINGS = {
    "ROOT_URLCONF": __name__,
    "LOGIN_URL": "/login/",
    "ALLOWED_HOSTS": ["127.0.0.1", "localhost", "testserver"],
}


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """The suite's check (tests/conftest.py), less the live server's threads: Django's live
    server keeps a thread per keep-alive connection of the browser (its DB connection is
    closed after each request), and Chromium keeps those open for minutes."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5
    while True:
        leaked = [
            t
            for t in threading.enumerate()
            if t not in before and t.is_alive() and not t.name.endswith("(process_request_thread)")
        ]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert not leaked, f"threads left running: {[t.name for t in leaked]}"


@pytest.fixture(scope="module")
def running_engine() -> Iterator[TasQ]:
    warm(engine)
    yield engine
    for gate in tasks.gates.values():
        gate.set()
    engine.close(timeout=10, cancel_pending=True)


@pytest.fixture
def users(settings: Any) -> dict[str, User]:
    for name, value in DJANGO_SETTINGS.items():
        setattr(settings, name, value)
    admin = User.objects.create_superuser("root", "root@example.com", "pw")
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    operator = User.objects.create_user("operator", password="pw", is_staff=True)
    operator.user_permissions.add(Permission.objects.get(content_type__app_label="tasq", codename="change_task"))
    outsider = User.objects.create_user("outsider", password="pw")
    return {"admin": admin, "view": viewer, "operator": operator, "outsider": outsider}


@pytest.fixture
def site(live_server: Any, running_engine: TasQ, users: dict[str, User]) -> scenarios.Site:
    base = live_server.url

    def sign_in(driver: Any, role: str | None) -> None:
        driver.get(base + "/login/")
        driver.delete_all_cookies()
        if role is None:
            return
        client = Client()
        client.force_login(users[role])
        driver.add_cookie({"name": "sessionid", "value": client.cookies["sessionid"].value, "path": "/"})

    return scenarios.Site(
        base=base, mount="/tasq", quiet="/quiet", engine=running_engine, login=sign_in, anonymous_page="login"
    )


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    with chrome() as browser:
        yield browser


@pytest.mark.parametrize("case", scenarios.ALL, ids=lambda case: case.__name__)
def test_django_dashboard_in_a_browser(driver: Any, site: scenarios.Site, case: Any) -> None:
    case(driver, site)


def test_django_forged_actions_change_nothing(driver: Any, site: scenarios.Site) -> None:
    scenarios.forged_actions_change_nothing(driver, site, "csrfmiddlewaretoken")


def test_django_security_headers(driver: Any, site: scenarios.Site) -> None:
    scenarios.security_headers(driver, site)


def test_django_roles(users: dict[str, User]) -> None:
    """Staff may look; a superuser or the tasq.change_task permission may act; others nothing."""
    assert role_of_user(users["admin"]) == "admin"
    assert role_of_user(users["operator"]) == "admin"
    assert role_of_user(users["view"]) == "view"
    assert role_of_user(users["outsider"]) is None
    users["admin"].is_active = False
    assert role_of_user(users["admin"]) is None


def test_django_stock_urlconf_shows_the_process_engine(users: dict[str, User]) -> None:
    """``include("tasq.contrib.django.urls")``: the dashboard of get_engine(), for staff only."""
    from tasq.contrib.django import get_engine
    from tests.dashboard.tasks import quick

    client = Client()
    assert client.get("/stock/data.json").status_code == 403
    assert client.get("/stock/").status_code == 302
    client.force_login(users["outsider"])
    assert client.get("/stock/").status_code == 403
    client.force_login(users["view"])
    assert client.get("/stock/data.json").status_code == 200  # the source is made with the engine
    get_engine().submit(quick, 21)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        names = [name["name"] for name in client.get("/stock/data.json").json()["names"]]
        if "tests.dashboard.tasks.quick" in names:
            break
        time.sleep(0.02)
    assert "tests.dashboard.tasks.quick" in names
