from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tasq.periodic import registry

HERE = Path(__file__).parent


@pytest.fixture(autouse=True)
def lock_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's own lock directory: the tests of other runs never share a schedule's lock."""
    directory = tmp_path / "locks"
    monkeypatch.setenv("TASQ_PERIODIC_DIR", str(directory))
    return directory


@pytest.fixture(autouse=True)
def forget_periodic_functions() -> Iterator[None]:
    """The registry is process-wide: what a test decorates is forgotten after it."""
    before = registry.for_everything()
    yield
    for function in registry.for_everything():
        if function not in before:
            registry.unregister(function)


@dataclass
class Gunicorn:
    process: subprocess.Popen[bytes]
    slot_log: Path  # the slots claimed and the runs, one line each (slot_log.py)
    server_log: Path  # gunicorn's own output

    def log_text(self) -> str:
        return self.server_log.read_text(errors="replace")


@pytest.fixture
def gunicorn(tmp_path: Path, lock_dir: Path) -> Iterator[Callable[..., Gunicorn]]:
    """``start(target, workers=N, preload=False, env={})``: gunicorn serving an app of this
    folder on 127.0.0.1 with sync workers, its slot log in SLOT_LOG and the test's lock
    directory; stopped after the test with SIGTERM, then SIGKILL if it does not exit."""
    from tests.contrib.flask_ext.test_flask_gunicorn import NO_CONTROL_SOCKET

    servers: list[Gunicorn] = []

    def start(target: str, *, workers: int, preload: bool = False, env: dict[str, str] | None = None) -> Gunicorn:
        assert not servers, "one gunicorn a test: they would share the logs"
        command = [
            sys.executable, "-m", "gunicorn", target, "--chdir", str(HERE), *(["--preload"] if preload else []),
            "-b", "127.0.0.1:0", "-k", "sync", "-w", str(workers), "--graceful-timeout", "5", *NO_CONTROL_SOCKET,
        ]  # fmt: skip
        slot_log, server_log = tmp_path / "slots.log", tmp_path / "server.log"
        environment = {**os.environ, **(env or {}), "SLOT_LOG": str(slot_log), "TASQ_PERIODIC_DIR": str(lock_dir)}
        with open(server_log, "wb") as output:
            process = subprocess.Popen(
                command, env=environment, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
        servers.append(Gunicorn(process, slot_log, server_log))
        return servers[-1]

    yield start
    for server in servers:
        if server.process.poll() is None:
            server.process.send_signal(signal.SIGTERM)
            try:
                server.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(server.process.pid, signal.SIGKILL)
                server.process.wait()
