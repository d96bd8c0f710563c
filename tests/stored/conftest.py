from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tasq import TasQ
from tests.stored import tasks

StoreMake = Callable[..., TasQ]


@pytest.fixture
def store(tmp_path: Path) -> str:
    """A store URL on a new file in the test's temporary directory."""
    return f"sqlite:///{tmp_path / 'tasq.db'}"


@pytest.fixture
def make(store: str) -> Iterator[StoreMake]:
    """Engines on the test's store (``store=`` overrides it); each closed after the test,
    leaving what it did not run in the file (as an app's restart would find it)."""
    engines: list[TasQ] = []

    def build(**options: object) -> TasQ:
        options.setdefault("store", store)
        options.setdefault("store_poll", 0.05)
        engine = TasQ(**options)  # type: ignore[arg-type]
        engines.append(engine)
        return engine

    yield build
    for gate in tasks.gates.values():
        gate.set()
    for engine in reversed(engines):
        engine.close(timeout=10)
    tasks.gates.clear()
    tasks.started.clear()


def rows(store: str, where: str = "1", parameters: tuple[object, ...] = ()) -> list[sqlite3.Row]:
    """The store's task rows, read with sqlite3 as any tool would."""
    connection = sqlite3.connect(store.removeprefix("sqlite:///"))
    connection.row_factory = sqlite3.Row
    try:
        return connection.execute(f"SELECT * FROM task WHERE {where} ORDER BY id", parameters).fetchall()
    finally:
        connection.close()


def states(store: str) -> dict[int, str]:
    return {row["id"]: row["state"] for row in rows(store)}
