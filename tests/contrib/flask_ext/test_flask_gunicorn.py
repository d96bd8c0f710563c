"""Promise 10 (docs/reliability.md) for Flask: gunicorn (sync, gthread, with and without --preload), SIGTERM under load.

Each scenario serves tests/contrib/flask_ext/gunicorn_app.py with two gunicorn workers, enqueues
tasks through real HTTP requests, signals the master while tasks are in flight, and reads the
app's outcome log: every id a response returned must appear there exactly once, as done or
failed (cancelled). The servers of one test run side by side to keep the suite quick.
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
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import gunicorn.config
import pytest

from tasq.contrib.gunicorn import shutdown_budget
from tests.conftest import SCALE

pytestmark = pytest.mark.timeout(60)

APP_DIR = Path(__file__).parent
# gunicorn >= 24 opens a control socket in ~/.gunicorn unless told not to: servers that run
# side by side would share it.
NO_CONTROL_SOCKET = ["--no-control-socket"] if "control_socket_disable" in gunicorn.config.KNOWN_SETTINGS else []

TaskKey = tuple[int, int]  # (worker pid, task id): ids are per process


@dataclass
class Scenario:
    worker_class: str
    preload: bool
    requests: int = 20
    tasks_per_request: int = 50
    task_ms: float = 5.0
    graceful_timeout: int = 10
    quit_after: float | None = None  # send SIGQUIT this long after SIGTERM: a quick shutdown

    @property
    def name(self) -> str:
        return f"{self.worker_class}{'-preload' if self.preload else ''}"


@dataclass
class Run:
    scenario: Scenario
    accepted: list[TaskKey] = field(default_factory=list)
    reported_before_sigterm: int = 0
    exit_code: int | None = None
    exit_seconds: float = 0.0
    enqueued: list[TaskKey] = field(default_factory=list)
    outcomes: Counter[TaskKey] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    server_log: str = ""

    def check_accounting(self) -> None:
        """Every accepted id reported exactly once; nothing reported that was not enqueued."""
        name = self.scenario.name
        assert self.accepted, f"{name}: no task accepted"
        assert len(set(self.accepted)) == len(self.accepted), f"{name}: duplicate ids in responses"
        missing = [key for key in self.accepted if self.outcomes[key] == 0]
        assert not missing, f"{name}: {len(missing)} accepted tasks never reported, e.g. {missing[:3]}"
        twice = {key: n for key, n in self.outcomes.items() if n > 1}
        assert not twice, f"{name}: reported more than once: {twice}"
        assert set(self.outcomes) == set(self.enqueued), f"{name}: reports and enqueued ids differ"
        assert self.exit_code == 0, f"{name}: exit code {self.exit_code}\n{self.server_log[-2000:]}"
        assert self.exit_seconds < self.scenario.graceful_timeout, (
            f"{name}: exit took {self.exit_seconds:.2f}s, graceful timeout {self.scenario.graceful_timeout}s"
        )


def serve_and_stop(scenario: Scenario, directory: Path) -> Run:
    run = Run(scenario)
    outcome_log = directory / f"{scenario.name}-outcomes.log"
    server_log = directory / f"{scenario.name}-server.log"
    command = [
        sys.executable, "-m", "gunicorn", "gunicorn_app:app",
        "--chdir", str(APP_DIR), "-b", "127.0.0.1:0", "-k", scenario.worker_class, "-w", "2", "--threads", "4",
        "--graceful-timeout", str(scenario.graceful_timeout), *NO_CONTROL_SOCKET,
        *(["--preload"] if scenario.preload else []),
    ]  # fmt: skip
    env = {**os.environ, "OUTCOME_LOG": str(outcome_log), "TESTAPP_TASQ_WORKERS": "4"}
    with open(server_log, "wb") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        port = _wait_for_port(server, server_log)
        for _ in range(scenario.requests):
            reply = _post(port, f"/enqueue?n={scenario.tasks_per_request}&ms={scenario.task_ms}")
            run.accepted += [(reply["pid"], task_id) for task_id in reply["ids"]]
        run.reported_before_sigterm = sum(1 for line in _lines(outcome_log) if line[0] != "enqueued")
        started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        if scenario.quit_after is not None:
            time.sleep(scenario.quit_after)
            server.send_signal(signal.SIGQUIT)
        run.exit_code = server.wait(scenario.graceful_timeout + 15)
        run.exit_seconds = time.monotonic() - started
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    run.server_log = server_log.read_text(errors="replace")
    for line in _lines(outcome_log):
        key = (int(line[1]), int(line[2]))
        if line[0] == "enqueued":
            run.enqueued.append(key)
        else:
            run.outcomes[key] += 1
            run.kinds[line[0] if line[0] == "done" else line[3]] += 1
    return run


def run_side_by_side(scenarios: list[Scenario], directory: Path) -> list[Run]:
    with ThreadPoolExecutor(len(scenarios)) as pool:
        return list(pool.map(lambda scenario: serve_and_stop(scenario, directory), scenarios))


def _wait_for_port(server: subprocess.Popen[bytes], server_log: Path) -> int:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", server_log.read_text(errors="replace"))
        if found:
            port = int(found.group(1))
            try:
                _get(port, "/ready")
                return port
            except OSError:
                pass
        if server.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"gunicorn did not come up:\n{server_log.read_text(errors='replace')[-2000:]}")


def _get(port: int, path: str) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        connection.getresponse().read()
    finally:
        connection.close()


def _post(port: int, path: str) -> dict[str, object]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", path)
        response = connection.getresponse()
        body = response.read()
        assert response.status == 200, body
        return json.loads(body)  # type: ignore[no-any-return]
    finally:
        connection.close()


def _lines(path: Path) -> list[list[str]]:
    if not path.exists():
        return []
    return [line.split() for line in path.read_text().splitlines() if line]


# -- the tests ----------------------------------------------------------------------------


def test_sigterm_with_a_thousand_tasks_in_flight_drains_every_one(tmp_path: Path) -> None:
    scenarios = [Scenario(worker_class, preload) for worker_class in ("sync", "gthread") for preload in (False, True)]
    for run in run_side_by_side(scenarios, tmp_path):
        assert len(run.accepted) == 1000
        assert run.reported_before_sigterm < len(run.accepted), f"{run.scenario.name}: nothing was in flight"
        run.check_accounting()
        assert run.kinds == Counter(done=1000), f"{run.scenario.name}: {run.kinds}"
        assert len({pid for pid, _ in run.accepted}) >= 1


@pytest.mark.stress
@pytest.mark.skipif(SCALE != 10, reason="10,000 in flight under `make stress`; the default run has 1,000")
@pytest.mark.timeout(300)
def test_sigterm_with_ten_thousand_tasks_in_flight_drains_every_one(tmp_path: Path) -> None:
    scenarios = [
        Scenario(worker_class, preload, requests=100, tasks_per_request=100, task_ms=2, graceful_timeout=60)
        for worker_class in ("sync", "gthread")
        for preload in (False, True)
    ]
    for run in run_side_by_side(scenarios, tmp_path):
        assert run.reported_before_sigterm < len(run.accepted), f"{run.scenario.name}: nothing was in flight"
        run.check_accounting()
        assert run.kinds == Counter(done=10_000), f"{run.scenario.name}: {run.kinds}"


def test_a_graceful_timeout_shorter_than_the_tasks_cancels_and_reports_them_in_time(tmp_path: Path) -> None:
    # The engine alone would drain for its shutdown_timeout (25 s) and be SIGKILLed at 3 s.
    scenarios = [
        Scenario(worker_class, preload, requests=4, tasks_per_request=10, task_ms=20_000, graceful_timeout=3)
        for worker_class, preload in (("sync", False), ("gthread", True))
    ]
    for run in run_side_by_side(scenarios, tmp_path):
        run.check_accounting()
        assert run.kinds == Counter(TaskCancelled=40), f"{run.scenario.name}: {run.kinds}"


def test_a_second_signal_cuts_the_drain_short_and_still_reports_every_task(tmp_path: Path) -> None:
    # SIGQUIT during the drain (gunicorn's quick shutdown, a second Ctrl-C) would raise
    # SystemExit inside it and lose the pending tasks.
    scenarios = [
        Scenario(worker_class, preload, requests=4, tasks_per_request=10, task_ms=20_000, quit_after=0.5)
        for worker_class, preload in (("sync", True), ("gthread", False))
    ]
    for run in run_side_by_side(scenarios, tmp_path):
        run.check_accounting()
        assert run.kinds == Counter(TaskCancelled=40), f"{run.scenario.name}: {run.kinds}"
        assert run.exit_seconds < 5, f"{run.scenario.name}: quick shutdown took {run.exit_seconds:.2f}s"


@pytest.mark.parametrize(
    ("graceful", "timeout", "budget"), [(30, 30, 27.0), (10, 30, 9.0), (30, 5, 4.0), (3, 0, 2.0), (1, 30, 0.0)]
)
def test_the_drain_budget_stays_inside_gunicorns_deadlines(graceful: float, timeout: float, budget: float) -> None:
    assert shutdown_budget(graceful, timeout) == pytest.approx(budget)
