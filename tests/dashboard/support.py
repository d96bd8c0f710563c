"""What the dashboard's tests share: a source that can cancel, real servers, a real browser."""

from __future__ import annotations

import http.server
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest

from tasq import TasQ
from tasq.dashboard import Dashboard, DashboardSource, Failure, Request, SessionCsrf, Snapshot, source_for
from tests.services import services_required

CHROMIUM = os.environ.get("TASQ_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("TASQ_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")

# What an attacker puts in a task's error and arguments: each would set the flag if it ran.
XSS = '<script>window.tasqXss=1;alert(1)</script><img src=x onerror="window.tasqXss=2">'
SECRET = "s3cret-argument-value"


class CancellingSource:
    """A MemorySource with ``cancel``, for engines that have none yet: a cancelled task that has
    not started is marked, its run turns into a no-op, and the snapshot shows it cancelled."""

    def __init__(self, engine: TasQ) -> None:
        self.inner: DashboardSource = source_for(engine)
        self.cancelled: dict[int, float] = {}
        self.can_retry = self.inner.can_retry
        self.can_cancel = True

    def snapshot(self, *, args: bool = True, limit: int = 50) -> Snapshot:
        snapshot = self.inner.snapshot(args=args, limit=limit)
        waiting = tuple(line for line in snapshot.waiting if line.task_id not in self.cancelled)
        cancelled = tuple(
            Failure(
                task_id=task_id,
                name=None,
                error="TaskCancelled: cancelled from the dashboard",
                traceback="",
                attempts=0,
                finished_at=at,
                cancelled=True,
                args=None,
            )
            for task_id, at in sorted(self.cancelled.items(), reverse=True)
        )
        return replace(snapshot, waiting=waiting, failures=cancelled + snapshot.failures, can_cancel=True)

    def cancel(self, task_id: int) -> bool:
        waiting = {line.task_id for line in self.inner.snapshot(args=False, limit=10_000).waiting}
        if task_id not in waiting or task_id in self.cancelled:
            return False
        self.cancelled[task_id] = time.time()
        return True

    def retry(self, task_id: int) -> int:
        return self.inner.retry(task_id)


def cancelling_source(engine: TasQ) -> DashboardSource:
    """The engine's own source when it can cancel; else one that stands in for cancel."""
    source = source_for(engine)
    return source if source.can_cancel else CancellingSource(engine)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def warm(engine: TasQ) -> None:
    """Start every thread the engine will use (workers, scheduler), before a test counts threads."""
    engine.start()
    done = threading.Event()
    engine.enqueue(done.set, delay=0.001)
    assert done.wait(5)


@contextmanager
def wsgi_server(app: Any) -> Iterator[str]:
    from werkzeug.serving import WSGIRequestHandler, make_server

    class OneRequestPerConnection(WSGIRequestHandler):
        # HTTP/1.0: the connection (and its thread) ends with each response, as a test wants.
        protocol_version = "HTTP/1.0"
        timeout = 2  # a connection the browser opened ahead and never used ends too

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=OneRequestPerConnection)
    thread = threading.Thread(target=server.serve_forever, name="test-wsgi-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def asgi_server(app: Any) -> Iterator[str]:
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="test-asgi-server", daemon=True)
    thread.start()
    wait_until(lambda: server.started, what="uvicorn to start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@contextmanager
def other_origin(pages: dict[str, str]) -> Iterator[str]:
    """A site on another origin (another port) serving ``pages``: where an attacker's form lives."""

    class Handler(http.server.BaseHTTPRequestHandler):
        timeout = 2  # a connection the browser opened ahead and never used ends too

        def do_GET(self) -> None:
            body = pages.get(self.path, "").encode()
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="test-other-origin", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _browser_missing() -> str | None:
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        return f"no browser: {CHROMIUM} and {CHROMEDRIVER} are needed (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed"
    return None


@contextmanager
def chrome(width: int = 1280, height: int = 900) -> Iterator[Any]:
    """Headless Chromium with a fresh profile, or a skip (a failure under TASQ_REQUIRE_SERVICES=1)."""
    missing = _browser_missing()
    if missing:
        if services_required():
            pytest.fail(f"{missing}; TASQ_REQUIRE_SERVICES=1 needs it")
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager download anything
    profile = tempfile.mkdtemp(prefix="tasq-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(20)
    driver.set_script_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def admin_asker(source: DashboardSource) -> Callable[[str, str], tuple[int, bytes]]:
    """``ask(method, path) -> (status, body)``: the dashboard of ``source`` as a signed-in
    admin of the same origin with a valid CSRF token would see it."""
    csrf = SessionCsrf(b"key", "session")
    dashboard = Dashboard(source)

    def ask(method: str, path: str) -> tuple[int, bytes]:
        request = Request(
            method=method,
            path=path,
            mount="/tasq",
            role="admin",
            csrf=csrf,
            own_origin="http://app.example",
            origin="http://app.example",
            form={"csrf_token": csrf.token()},
        )
        response = dashboard.handle(request)
        return response.status, response.body

    return ask
