"""store= URLs and store_sync values: the one accepted form, and a clear error for the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasq.store import Journal, store_path

pytestmark = pytest.mark.timeout(10)


def test_three_slashes_then_the_path_relative_or_absolute() -> None:
    assert store_path("sqlite:///data/tasq.db") == Path("data/tasq.db")
    assert store_path("sqlite:////var/lib/app/tasq.db") == Path("/var/lib/app/tasq.db")


@pytest.mark.parametrize(
    "url",
    ["tasq.db", "sqlite://tasq.db", "postgres:///x", "sqlite:///", "sqlite:///:memory:", "sqlite:///a.db?mode=ro"],
)
def test_anything_else_is_a_value_error_showing_the_form(url: str) -> None:
    with pytest.raises(ValueError, match=r"sqlite:///"):
        store_path(url)


def test_a_non_string_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="sqlite:///PATH"):
        store_path(Path("tasq.db"))


def test_store_sync_is_normal_or_full(tmp_path: Path) -> None:
    with Journal(f"sqlite:///{tmp_path}/a.db", sync="full") as journal:
        assert journal.sync == "full"
    with pytest.raises(ValueError, match="'normal' or 'full'"):
        Journal(f"sqlite:///{tmp_path}/a.db", sync="off")  # type: ignore[arg-type]


def test_constructing_a_journal_touches_no_file(tmp_path: Path) -> None:
    with Journal(f"sqlite:///{tmp_path}/a.db"):
        pass
    assert list(tmp_path.iterdir()) == []
