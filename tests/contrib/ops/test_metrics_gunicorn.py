"""Prometheus metrics under gunicorn's two workers: /metrics of either one adds up both.

A real gunicorn serves metrics_app.py with PROMETHEUS_MULTIPROC_DIR set; tasks are enqueued
through HTTP requests that land on both workers, and the scraped totals must equal what was
sent, also after one worker exits and the master replaces it.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import gunicorn.config
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import scaled

pytestmark = pytest.mark.timeout(90)

APP_DIR = Path(__file__).parent
NO_CONTROL_SOCKET = ["--no-control-socket"] if "control_socket_disable" in gunicorn.config.KNOWN_SETTINGS else []
LABELS = {"engine", "task", "exception", "le"}
TASKS = {"metrics_app.succeed", "metrics_app.fail"}


class Server:
    def __init__(self, directory: Path) -> None:
        self.log_path = directory / "gunicorn.log"
        metrics_dir = directory / "prometheus"
        metrics_dir.mkdir()
        command = [
            sys.executable, "-m", "gunicorn", "metrics_app:app", "--chdir", str(APP_DIR),
            "-b", "127.0.0.1:0", "-w", "2", "--graceful-timeout", "10", *NO_CONTROL_SOCKET,
        ]  # fmt: skip
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.port = self._wait_for_port()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _wait_for_port(self) -> int:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", self.log())
            if found and self.log().count("Booting worker") >= 2:
                try:
                    self.request("GET", "/ready", port=int(found.group(1)))
                    return int(found.group(1))
                except OSError:
                    pass
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"gunicorn did not come up:\n{self.log()[-3000:]}")

    def request(self, method: str, path: str, port: int | None = None) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=10)
        try:
            connection.request(method, path)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path)
    yield running
    running.stop()


def scrape(server: Server) -> dict[str, list[tuple[dict[str, str], float]]]:
    status, body = server.request("GET", "/metrics")
    assert status == 200, body
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def total(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(
        value for found, value in samples.get(name, []) if all(found.get(key) == want for key, want in labels.items())
    )


def wait_for_totals(server: Server, expected: dict[str, float], timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(server)
        seen = {name: total(samples, name) for name in expected}
        if seen == expected:
            return samples
        if time.monotonic() > deadline:
            raise AssertionError(f"scraped totals {seen}, expected {expected}")
        time.sleep(0.2)


def enqueue_everywhere(server: Server, requests: int, ok: int, bad: int) -> set[int]:
    def one(_: int) -> int:
        status, body = server.request("POST", f"/enqueue?ok={ok}&bad={bad}")
        assert status == 200, body
        reply = json.loads(body)
        assert len(reply["ids"]) == ok + bad
        return int(reply["pid"])

    with ThreadPoolExecutor(4) as pool:
        return set(pool.map(one, range(requests)))


def test_the_totals_of_both_workers_add_up_at_either_workers_metrics(server: Server) -> None:
    requests, ok, bad = max(20, scaled(200)), 10, 2
    pids = enqueue_everywhere(server, requests, ok, bad)
    assert len(pids) == 2, f"the requests reached only {pids}: the test needs both workers"
    sent = requests * (ok + bad)
    samples = wait_for_totals(
        server,
        {
            "tasq_tasks_enqueued_total": sent,
            "tasq_tasks_started_total": sent,
            "tasq_tasks_succeeded_total": requests * ok,
            "tasq_tasks_failed_total": requests * bad,
            "tasq_task_duration_seconds_count": sent,
            "tasq_task_queue_wait_seconds_count": sent,
        },
    )
    assert total(samples, "tasq_tasks_failed_total", exception="ValueError", task="metrics_app.fail") == requests * bad
    assert total(samples, "tasq_tasks_succeeded_total", engine="shop", task="metrics_app.succeed") == requests * ok
    assert total(samples, "tasq_tasks_in_progress") == 0
    assert total(samples, "tasq_queue_depth") == 0
    assert total(samples, "tasq_tasks_retried_total") == 0
    for name, found in samples.items():
        if not name.startswith("tasq_"):
            continue
        for labels, _ in found:
            assert set(labels) <= LABELS, f"{name} has labels {sorted(labels)}"
            assert labels["task"] in TASKS, f"{name}: task label {labels['task']!r} is not a task name"
            assert not any(value.isdigit() for value in labels.values()), f"{name}: an id in {labels}"


def test_a_worker_that_exits_keeps_its_counts_and_leaves_no_live_gauges(server: Server) -> None:
    requests, ok = 20, 5
    pids = enqueue_everywhere(server, requests, ok, 0)
    wait_for_totals(server, {"tasq_tasks_succeeded_total": requests * ok})
    gone = min(pids)
    os.kill(gone, signal.SIGTERM)  # the master boots a new worker in its place
    deadline = time.monotonic() + 20
    while server.log().count("Booting worker") < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.log().count("Booting worker") >= 3, server.log()[-3000:]
    samples = wait_for_totals(server, {"tasq_tasks_succeeded_total": requests * ok, "tasq_tasks_in_progress": 0})
    assert total(samples, "tasq_tasks_enqueued_total") == requests * ok
    enqueue_everywhere(server, 4, ok, 0)
    wait_for_totals(server, {"tasq_tasks_succeeded_total": (requests + 4) * ok})
