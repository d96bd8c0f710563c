"""`make demo`'s kill-and-restart scene at a small size: the Flask example with a store under
gunicorn (2 workers), each worker SIGKILLed mid-load, every acknowledged task done once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parents[3]
SCENE = "import sys; from example_projects.crashdemo import run; sys.exit(0 if run(requests=int(sys.argv[1])) else 1)"


def test_every_task_a_response_acknowledged_is_done_once_though_both_workers_were_killed() -> None:
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    scene = subprocess.run(
        [sys.executable, "-c", SCENE, "400"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=150
    )
    out = scene.stdout + scene.stderr
    assert scene.returncode == 0, out
    assert re.search(r"workers killed with SIGKILL +2 \(pids \d+, \d+\)", out), out
    assert re.search(r"failed, pending or lost +0\n", out), out
    assert re.search(r"server exit on SIGTERM +clean", out), out
    assert "every acknowledged task finished exactly once: yes" in out, out
