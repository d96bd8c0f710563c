"""The documentation agrees with the code: the configuration table, and the tests each promise names."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import tasq

pytestmark = pytest.mark.timeout(30)

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def engine_options() -> list[str]:
    """The constructor's keyword options, as `help(tasq.TasQ)` shows them."""
    signature = inspect.signature(tasq.TasQ)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
        signature = inspect.signature(tasq.TasQ.__init__)  # a constructor that hides its parameters
    return [name for name, p in signature.parameters.items() if name != "self" and p.kind is not p.VAR_KEYWORD]


def configuration_rows() -> dict[str, list[str]]:
    """docs/configuration.md's table: option -> its cells (Flask key, Django key, Starlette keyword, ...)."""
    rows: dict[str, list[str]] = {}
    for line in (DOCS / "configuration.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 6:
            rows[cells[0].strip("`")] = cells[1:]
    return rows


def instrument_rows() -> dict[str, list[str]]:
    """docs/configuration.md's table of instruments: name -> its cells (Flask key, Django key, ...)."""
    rows: dict[str, list[str]] = {}
    for line in (DOCS / "configuration.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 5:
            rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_the_instruments_table_has_one_row_per_instrument() -> None:
    from tasq.options import INSTRUMENT_NAMES

    assert sorted(instrument_rows()) == sorted(INSTRUMENT_NAMES)


def test_the_configuration_table_has_one_row_per_engine_option() -> None:
    assert sorted(configuration_rows()) == sorted(engine_options())


def test_the_flask_column_is_what_init_app_puts_in_the_config() -> None:
    flask = pytest.importorskip("flask")
    from tasq.contrib.flask import TasQ as FlaskTasQ

    app = flask.Flask("docs")
    FlaskTasQ(app)
    try:
        in_config = sorted(key for key in app.config if key.startswith("TASQ_"))
        rows = [*configuration_rows().values(), *instrument_rows().values()]
        documented = sorted(cells[0].strip("`") for cells in rows if cells[0].startswith("`"))
        assert documented == in_config
    finally:
        app.extensions["tasq"].close()


def test_the_starlette_column_is_the_middlewares_signature() -> None:
    pytest.importorskip("starlette")
    from tasq.contrib.starlette import TasQMiddleware

    keywords = set(inspect.signature(TasQMiddleware).parameters)
    documented = {cells[2].strip("`") for cells in configuration_rows().values()}
    assert documented <= keywords


def test_every_promise_names_tests_that_exist() -> None:
    text = (DOCS / "reliability.md").read_text(encoding="utf-8")
    numbers = [int(n) for n in re.findall(r"^\*\*(\d+)\.", text, flags=re.MULTILINE)]
    assert numbers == list(range(1, len(numbers) + 1)), "promises are numbered 1, 2, 3, ... in order"
    for promise in re.split(r"^\*\*(?=\d+\.)", text, flags=re.MULTILINE)[1:]:
        number = promise.split(".", 1)[0]
        cited = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", promise)
        assert cited, f"promise {number} names no test"
        for path, name in cited:
            source = (ROOT / path).read_text(encoding="utf-8")
            assert re.search(rf"^(async )?def {name}\(", source, flags=re.MULTILINE), (
                f"promise {number}: {path}::{name}"
            )
