from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator

import pytest

# A server's own threads outlive a request by design: anyio keeps its worker threads for
# the next request (they end after 10 s idle). Every other thread a test starts must end.
_SERVER_THREADS = ("AnyIO worker thread",)


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """The suite's check (tests/conftest.py), less the threads a live server keeps by design."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5
    while True:
        alive = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        leaked = [t for t in alive if not t.name.startswith(_SERVER_THREADS)]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    gc.collect()
    assert not leaked, f"threads left running: {[t.name for t in leaked]}"
