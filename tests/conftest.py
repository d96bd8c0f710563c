from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from tasq import TasQ

SCALE = 10 if os.environ.get("TASQ_STRESS") else 1  # stress runs use the full N of docs/reliability.md


def scaled(full: int) -> int:
    """The figure of a promise (docs/reliability.md) under `make stress`, a tenth of it in the default run."""
    return full if SCALE == 10 else max(1, full // 10)


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """A test that leaves a thread running fails: every engine it made must be closed."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5
    while True:
        leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    gc.collect()
    assert not leaked, f"threads left running: {[t.name for t in leaked]}"


@pytest.fixture
def make_engine() -> Iterator[Callable[..., TasQ]]:
    """Build engines for a test; each is closed (cancelling what is left) after it."""
    engines: list[TasQ] = []

    def make(**options: object) -> TasQ:
        engine = TasQ(**options)  # type: ignore[arg-type]
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close(timeout=5, cancel_pending=True)
