"""pytest fixtures for applications that use TasQ (loaded automatically by pytest)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .engine import TasQ
from .testing import eager


@pytest.fixture
def tasq_eager() -> Iterator[None]:
    """Every TasQ engine runs its tasks inline during the test; failures raise."""
    with eager(propagate=True):
        yield


@pytest.fixture
def tasq_engine() -> Iterator[TasQ]:
    """A started engine that keeps 1,000 results, closed (and drained) after the test."""
    engine = TasQ(results=1000, name="pytest")
    engine.start()
    try:
        yield engine
    finally:
        engine.close()
