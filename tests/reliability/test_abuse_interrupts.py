"""Ctrl-C landing anywhere in the engine's own code leaves its state whole (docs/reliability.md).

Each case runs tests/reliability/interrupting.py in a process of its own: trials in which a
real SIGINT reaches the main thread at a random moment while it enqueues (plain, with a
result store, with hooks, delayed, with priorities, under a queue bound), joins or closes;
after each, every id is reported once, join() becomes True in any thread and close()
returns. A tenth of the trials by default; `make stress` runs them all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import scaled
from tests.reliability.interrupting import CASES

pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.skipif(sys.platform == "win32", reason="signals sent to a thread need POSIX"),
]

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("case", list(CASES))
def test_an_interrupt_anywhere_leaves_every_id_reported_and_nothing_hanging(case: str) -> None:
    trials = scaled(250)
    process = subprocess.run(
        [sys.executable, "-m", "tests.reliability.interrupting", case, str(trials)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert "Timeout (0:" not in process.stderr, f"a trial hung:\n{process.stderr[-4000:]}"
    assert process.returncode == 0, process.stderr[-4000:]
    summary = json.loads(process.stdout.strip().splitlines()[-1])
    assert summary["trials"] == trials
    assert summary["problems"] == [], f"{summary['failed']} problem(s)"
