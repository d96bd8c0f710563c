from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tasq.periodic import registry


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
