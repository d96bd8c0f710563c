from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tasq.store import Journal, NewTask


@pytest.fixture
def make_journal(tmp_path: Path) -> Iterator[Callable[..., Journal]]:
    """Journals on files in a temporary directory, closed after the test."""
    journals: list[Journal] = []

    def make(name: str = "tasq.db", **options: object) -> Journal:
        journal = Journal(f"sqlite:///{tmp_path / name}", **options)  # type: ignore[arg-type]
        journals.append(journal)
        return journal

    yield make
    for journal in journals:
        journal.close()


@pytest.fixture
def journal(make_journal: Callable[..., Journal]) -> Journal:
    return make_journal()


def task(name: str = "app.tasks.send", *args: object, engine: str = "default", **fields: object) -> NewTask:
    return NewTask(engine=engine, name=name, args=list(args), **fields)  # type: ignore[arg-type]
