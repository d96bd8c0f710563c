"""``tasq worker --store sqlite:///PATH myapp.tasks``: a process that runs a store's tasks.

A web app that wants its tasks run outside its request processes points this command at
the same store: it imports the modules named (so the app makes its engines, with their
hooks and callbacks), starts the store engines of the same store and names, and runs their
tasks beside (or instead of) the app's own processes until SIGTERM or SIGINT; then the
running tasks finish (up to ``--shutdown-timeout``) and the rest stay in the store.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from .. import lifecycle
from ..context import resolve_engine
from ..store import store_path
from .engine import StoreEngine

__all__ = ["serve"]

logger = logging.getLogger("tasq")


def serve(
    store: str,
    modules: Sequence[str],
    *,
    names: Sequence[str] = (),
    threads: int = 10,
    shutdown_timeout: float = 25.0,
    paths: Sequence[str] = (".",),
    verbose: int = 0,
) -> int:
    """Run the tasks of ``store`` until SIGTERM or SIGINT; the exit status."""
    wanted = store_path(store).resolve()
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(asctime)s %(process)d %(levelname)s %(message)s"
    )
    for path in reversed(paths):
        sys.path.insert(0, os.path.abspath(path))
    for module in modules:
        importlib.import_module(module)
    resolve_engine()  # Django makes its engine on first use: ask, as a @background call would
    made = {
        engine.name: engine
        for engine in lifecycle.open_engines()
        if isinstance(engine, StoreEngine) and engine.journal.path.resolve() == wanted and not engine.closed
    }
    served: list[StoreEngine] = []
    for name in sorted(set(names) or set(made) or {"default"}):
        engine = made.get(name)
        if engine is None:
            engine = StoreEngine(name=name, store=store, workers=threads, shutdown_timeout=shutdown_timeout)
        served.append(engine)
    stop = threading.Event()
    signals = [0]

    def on_signal(signum: int, frame: FrameType | None) -> None:
        signals[0] += 1
        if signals[0] > 1:
            logger.warning(
                "second signal: exiting now; running tasks run again once their lease lapses", extra={"task_id": None}
            )
            os._exit(1)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    for engine in served:
        engine.start()
        logger.info(
            "tasq worker: engine %r, %d thread(s), store %s",
            engine.name,
            engine.workers,
            Path(engine.journal.path),
            extra={"task_id": None},
        )
    while not stop.wait(3600):
        pass
    logger.info("tasq worker: stopping; running tasks finish, the rest stay in the store", extra={"task_id": None})
    for engine in served:
        engine.shutdown("the worker stopped", timeout=shutdown_timeout)
    return 0
