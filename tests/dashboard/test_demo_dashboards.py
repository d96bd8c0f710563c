"""`make demo` and the examples' dashboards: the URL printed, anonymous kept out, the admin let
in; on a terminal the Flask example stays up until Enter, in a pipe the demo never waits."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parents[2]
FLASK_DEMO = (
    "import sys; from example_projects.webdemo import run; "
    "from example_projects.flask_app.demo import DEMO; sys.exit(0 if run(DEMO, requests=60) else 1)"
)


def _env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    env.update(extra)
    return env


def test_in_a_pipe_the_demo_prints_the_dashboard_and_never_waits() -> None:
    # stdin stays open and silent: a demo that waited for Enter would hang until the timeout.
    demo = subprocess.Popen(
        [sys.executable, "-c", FLASK_DEMO],
        cwd=ROOT,
        env=_env(DASHBOARD_PASSWORD="pipe-secret"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        output, _ = demo.communicate(timeout=120)
    finally:
        if demo.poll() is None:
            demo.kill()
    text = output.decode()
    assert demo.returncode == 0, text[-3000:]
    assert "dashboard: http://127.0.0.1:" in text and "/tasq/  (user admin, password pipe-secret)" in text
    assert "anonymous kept out, admin let in" in text
    assert "press Enter" not in text


def test_on_a_terminal_the_flask_example_stays_up_until_enter() -> None:
    controller, terminal = pty.openpty()
    demo = subprocess.Popen(
        [sys.executable, "-c", FLASK_DEMO],
        cwd=ROOT,
        env=_env(DASHBOARD_PASSWORD="tty-secret", TERM="dumb"),
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    seen = b""
    try:
        seen = _read_until(controller, b"press Enter", demo, deadline=time.monotonic() + 120)
        assert b"stays up: open http://127.0.0.1:" in seen
        assert demo.poll() is None  # it waits for the person at the terminal
        os.write(controller, b"\n")
        assert demo.wait(60) == 0
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        os.close(controller)


def _read_until(fd: int, wanted: bytes, process: subprocess.Popen[bytes], deadline: float) -> bytes:
    seen = b""
    while wanted not in seen:
        left = deadline - time.monotonic()
        assert left > 0 and process.poll() is None, f"no {wanted!r}; the demo said: {seen[-3000:]!r}"
        ready, _, _ = select.select([fd], [], [], min(left, 1.0))
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:  # the terminal closed: the process ended
                break
    return seen
