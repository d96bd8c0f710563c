"""``tasq worker --processes N`` for a backend whose worker runs in one process: N copies.

Each child runs ``target(options)`` (a ``"module:function"``) with ``processes=1``. A stop
signal (SIGTERM, SIGINT, SIGQUIT) goes to every child, which stops as its backend does;
a child that ends unasked ends the others, and its status is the command's.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from types import FrameType

from .base import WorkerOptions

__all__ = ["run_child", "supervise"]

_SETTINGS = "TASQ_WORKER_PROCESS"  # how the supervisor tells a child what to run
_CHILD = "import sys; from tasq.backends.supervisor import run_child; sys.exit(run_child())"


def supervise(options: WorkerOptions, target: str) -> int:
    """Run ``options.processes`` children until they stop; the exit status."""
    settings = json.dumps({"target": target, "options": asdict(replace(options, processes=1))})
    env = {**os.environ, _SETTINGS: settings}
    children = [subprocess.Popen([sys.executable, "-c", _CHILD], env=env) for _ in range(options.processes)]
    stopping = threading.Event()

    def forward(signum: int, frame: FrameType | None) -> None:
        stopping.set()
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        signal.signal(signum, forward)
    status = 0
    while any(child.poll() is None for child in children):
        for child in children:
            code = child.poll()
            if code is not None and not stopping.is_set():
                status = code or 1
                forward(signal.SIGTERM, None)
        time.sleep(0.2)
    for child in children:
        status = status or abs(child.wait())
    return status


def run_child() -> int:
    """In a child: the backend's worker, with the options the supervisor was given."""
    settings = json.loads(os.environ.pop(_SETTINGS))
    options = dict(settings["options"])
    for key in ("modules", "names", "paths"):
        options[key] = tuple(options[key])
    module_name, _, function_name = settings["target"].partition(":")
    run: Callable[[WorkerOptions], int] = getattr(importlib.import_module(module_name), function_name)
    return run(WorkerOptions(**options))
