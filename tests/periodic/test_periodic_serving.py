"""Periodic tasks in an idle app: Flask and Django under ``gunicorn --preload -w 2``, no request.

The app loads in the master, which must start nothing; each worker starts its engine as it is
forked, so the schedule runs from startup on: a run per slot, never two, none in the master.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.contrib.flask_ext.test_flask_gunicorn import NO_CONTROL_SOCKET

pytestmark = pytest.mark.timeout(60)

APP_DIR = Path(__file__).parent


def read(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def booted_workers(server_log: Path) -> set[int]:
    return {int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", server_log.read_text(errors="replace"))}


@pytest.mark.parametrize(
    ("target", "env"),
    [
        pytest.param("preload_flask_app:app", {}, id="flask"),
        pytest.param(
            "preload_django_site:application", {"DJANGO_SETTINGS_MODULE": "preload_django_site"}, id="django"
        ),
    ],
)
def test_an_idle_app_under_gunicorn_preload_runs_its_every_1_task_once_per_slot_from_the_workers(
    tmp_path: Path, lock_dir: Path, target: str, env: dict[str, str]
) -> None:
    log = tmp_path / "slots.log"
    server_log = tmp_path / "server.log"
    command = [
        sys.executable, "-m", "gunicorn", target, "--chdir", str(APP_DIR), "--preload",
        "-b", "127.0.0.1:0", "-k", "sync", "-w", "2", "--graceful-timeout", "5", *NO_CONTROL_SOCKET,
    ]  # fmt: skip
    environment = {**os.environ, **env, "SLOT_LOG": str(log), "TASQ_PERIODIC_DIR": str(lock_dir)}
    with open(server_log, "wb") as output:
        server = subprocess.Popen(
            command, env=environment, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_for(lambda: len(booted_workers(server_log)) >= 2 or server.poll() is not None, 20, "two workers")
        assert server.poll() is None, server_log.read_text(errors="replace")
        workers = booted_workers(server_log)
        loaded = [int(line[1]) for line in read(log) if line[0] == "loaded"]
        assert loaded == [server.pid], "the app loads once, in the master (--preload)"

        wait_for(lambda: sum(line[0] == "run" for line in read(log)) >= 4, 15, "four runs")
        lines = read(log)
        runs = [line for line in lines if line[0] == "run"]
        slots = [line for line in lines if line[0] == "slot"]
        assert {int(line[1]) for line in runs + slots} <= workers, "only workers run the schedule, never the master"
        per_slot = Counter(line[2] for line in slots)
        assert max(per_slot.values()) == 1, f"slots run twice: {[s for s, n in per_slot.items() if n > 1]}"
        assert len(runs) <= len(slots)  # a run per slot claimed
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
