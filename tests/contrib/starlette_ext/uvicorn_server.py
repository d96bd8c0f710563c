"""Run an example app under a real uvicorn on 127.0.0.1, and read what it logged."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

EXAMPLES = Path(__file__).resolve().parents[3] / "example_projects"
# The engine's own lines for failures and cancellations, and the integration's for success.
# The engine's lines name it ("tasq: engine 'app': task 7 cancelled: ..."); the integration's do not.
TERMINAL = re.compile(r"tasq: (?:engine '[^']*': )?task (\d+) (done$|cancelled:|\(.*?\) failed:)", re.MULTILINE)


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    saved_log: str | None = None  # the log as it was when the server was cleaned up

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 30) -> int:
        self.process.send_signal(signum)
        return self.process.wait(timeout)

    def log_text(self) -> str:
        return self.saved_log if self.saved_log is not None else self.log.read_text(errors="replace")

    def outcomes(self) -> Counter[int]:
        """How many terminal log lines (done, failed, cancelled) each task id got."""
        return Counter(int(match.group(1)) for match in TERMINAL.finditer(self.log_text()))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(example: str, *, env: dict[str, str], uvicorn_cli: tuple[str, ...] | None = None) -> Iterator[Server]:
    """``python app.py`` of an example (or ``python -m uvicorn app:app`` with ``uvicorn_cli`` options)."""
    port = free_port()
    if uvicorn_cli is None:
        command = [sys.executable, "app.py", "--port", str(port)]
    else:
        command = [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", str(port), *uvicorn_cli]
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "server.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                command,
                cwd=EXAMPLES / example,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = Server(process, port, log)
        try:
            _wait_until_up(server)
            yield server
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            server.saved_log = server.log_text()


def _wait_until_up(server: Server) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(server.url + "/stats", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if server.process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the server did not come up:\n{server.log_text()[-3000:]}")
        time.sleep(0.05)
