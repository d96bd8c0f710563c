"""Run an example app under its real server, load it with real requests, and report.

Each example provides a ``demo.py`` with a ``DEMO = WebDemo(...)``: the command that serves
it on 127.0.0.1, the request that enqueues one task, and a stats URL answering JSON:
``{"enqueued", "done", "failed", "retried", "cancelled", "latency_ms": {"p50", "p99"}}``.

Each example mounts the TasQ dashboard behind a demo sign-in (user ``admin``, the password in
``$DASHBOARD_PASSWORD``): the demo prints its URL, checks that an anonymous request is kept
out and a signed-in one let in, and, on a terminal, leaves the app up until Enter is pressed
for the example that asks (``keep_open``). In a pipe or in CI it never waits.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .report import Bar, heading, line, percentile, table

REQUESTS = 3000
CLIENTS = 16
# One password per `make demo` run, for every example's dashboard (user "admin").
PASSWORD = os.environ.get("DASHBOARD_PASSWORD") or secrets.token_urlsafe(9)


@dataclass
class WebDemo:
    name: str
    directory: Path
    command: Callable[[int], list[str]]  # port -> argv
    path: str  # POST here enqueues one task
    body: Callable[[int], dict[str, object]]  # request number -> JSON body
    stats_path: str
    env: dict[str, str] = field(default_factory=dict)
    shutdown_seconds: float = 30.0
    dashboard: str = "/tasq/"
    sign_in: str = "basic"  # "basic": HTTP basic auth; "django": Django's admin sign-in form
    keep_open: bool = False  # on a terminal, wait for Enter before stopping the app


def interactive() -> bool:
    """A person at a terminal: stdin and stdout are terminals, and this is not CI."""
    return sys.stdin.isatty() and sys.stdout.isatty() and not os.environ.get("CI")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_json(client: httpx.Client, path: str) -> dict[str, object]:
    response = client.get(path, timeout=5)
    if response.status_code != 200:
        raise RuntimeError(f"GET {path}: {response.status_code}")
    return response.json()  # type: ignore[no-any-return]


def run(demo: WebDemo, requests: int = REQUESTS) -> bool:
    port = free_port()
    heading(f"{demo.name}: {' '.join(demo.command(port))}")
    env = {**os.environ, **demo.env, "PYTHONUNBUFFERED": "1", "DASHBOARD_PASSWORD": PASSWORD}
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"tasq-demo-{port}.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            demo.command(port), cwd=demo.directory, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        # One httpx client for every load thread; its pool keeps a connection per thread alive.
        # Measured on 2 cores against the Starlette example, 3,000 requests from 16 threads:
        # httpx 3.2-3.9 s, http.client 1.9-2.6 s, httpx.AsyncClient 9.3-9.8 s. The client's CPU
        # shows in the request times the summary prints; we keep httpx for what it handles
        # (pooling, timeouts, JSON) and say so here rather than hand-roll HTTP again.
        limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30) as client:
                return _drive(demo, server, client, requests, log_path)
        finally:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


def _drive(demo: WebDemo, server: subprocess.Popen[bytes], client: httpx.Client, requests: int, log_path: Path) -> bool:
    deadline = time.monotonic() + 30
    while True:
        try:
            get_json(client, demo.stats_path)
            break
        except (httpx.TransportError, RuntimeError):
            if server.poll() is not None or time.monotonic() > deadline:
                line(f"the server did not come up; its log: {log_path}")
                print(log_path.read_text()[-3000:])
                return False
            time.sleep(0.1)
    dashboard = f"{client.base_url}".rstrip("/") + demo.dashboard
    dashboard_error = check_dashboard(demo, client)
    line(f"dashboard: {dashboard}  (user admin, password {PASSWORD})")
    if dashboard_error:
        line(f"dashboard check failed: {dashboard_error}")

    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def send(number: int) -> None:
        started = time.perf_counter()
        try:
            response = client.post(demo.path, json=demo.body(number))
        except httpx.HTTPError as error:
            with lock:
                errors.append(f"{type(error).__name__}: {error}")
            return
        with lock:
            latencies.append(time.perf_counter() - started)
            if not response.is_success:
                errors.append(f"HTTP {response.status_code}")

    started = time.perf_counter()
    with Bar("requests sent", requests) as bar, ThreadPoolExecutor(CLIENTS) as clients:
        futures = [clients.submit(send, number) for number in range(requests)]
        while not all(f.done() for f in futures):
            with lock:
                bar.update(len(latencies) + len(errors))
            time.sleep(0.1)
        bar.update(len(latencies) + len(errors))
    request_seconds = time.perf_counter() - started

    stats: dict[str, object] = {}
    with Bar("tasks finished", requests) as bar:
        while True:
            stats = get_json(client, demo.stats_path)
            finished = int(stats["done"]) + int(stats["failed"])  # type: ignore[call-overload]
            bar.update(finished, int(stats["enqueued"]), f"retried {stats['retried']}")  # type: ignore[call-overload]
            if finished >= int(stats["enqueued"]) or time.monotonic() - started > 120:  # type: ignore[call-overload]
                break
            time.sleep(0.1)

    if demo.keep_open and interactive():
        line(f"{demo.name} stays up: open {dashboard} (user admin, password {PASSWORD})")
        try:
            input("  press Enter to stop it and go on ")
        except EOFError:
            pass
    server.send_signal(signal.SIGTERM)
    try:
        exit_code = server.wait(demo.shutdown_seconds)
    except subprocess.TimeoutExpired:
        exit_code = None
    latency = stats.get("latency_ms", {})
    assert isinstance(latency, dict)
    table(
        f"{demo.name} summary",
        [
            ("requests", f"{requests:,} in {request_seconds:.1f} s"),
            ("request errors", f"{len(errors):,}"),
            ("request p50", f"{percentile(latencies, 0.5) * 1000:.1f} ms"),
            ("request p99", f"{percentile(latencies, 0.99) * 1000:.1f} ms"),
            ("tasks enqueued", f"{stats['enqueued']:,}"),
            ("tasks done", f"{stats['done']:,}"),
            ("tasks retried", f"{stats['retried']:,}"),
            ("tasks failed", f"{stats['failed']:,}"),
            ("enqueue -> done p50", f"{latency.get('p50', 0):.1f} ms"),
            ("enqueue -> done p99", f"{latency.get('p99', 0):.1f} ms"),
            ("server exit on SIGTERM", "clean" if exit_code == 0 else f"code {exit_code}"),
            ("dashboard", "anonymous kept out, admin let in" if not dashboard_error else "FAILED"),
        ],
    )
    if errors:
        line(f"first request error: {errors[0]}")
    return not errors and not dashboard_error and exit_code == 0 and stats["enqueued"] == requests


def check_dashboard(demo: WebDemo, client: httpx.Client) -> str | None:
    """None if an anonymous request is kept out of the dashboard and a signed-in admin gets in."""
    anonymous = client.get(demo.dashboard + "data.json", follow_redirects=False)
    if anonymous.status_code not in (302, 303, 403):
        return f"an anonymous GET {demo.dashboard}data.json answered {anonymous.status_code}"
    if demo.sign_in == "django":
        with httpx.Client(base_url=client.base_url, timeout=10) as browser:
            form = browser.get("/admin/login/")
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
            if token is None:
                return "no sign-in form at /admin/login/"
            browser.post(
                "/admin/login/",
                data={"username": "admin", "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)},
            )
            answer = browser.get(demo.dashboard + "data.json", headers={"Accept": "application/json"})
    else:
        answer = client.get(demo.dashboard + "data.json", auth=("admin", PASSWORD))
    if answer.status_code != 200 or '"stats"' not in answer.text:
        return f"a signed-in admin got {answer.status_code} from {demo.dashboard}data.json"
    return None


if __name__ == "__main__":
    sys.exit("run `make demo`")
