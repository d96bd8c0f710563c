"""Promise 21 (docs/reliability.md): every record of the ``tasq`` loggers carries ``task_id``."""

from __future__ import annotations

import ast
import io
import logging
from pathlib import Path

import pytest

from tasq import TasQ

pytestmark = pytest.mark.timeout(30)

PACKAGE = Path(__file__).resolve().parents[2] / "tasq"
LEVELS = {"debug", "info", "warning", "error", "exception", "critical", "log"}


def logging_calls_without_task_id() -> list[str]:
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = node.func.value
            if node.func.attr not in LEVELS or not (isinstance(owner, ast.Name) and owner.id.endswith("logger")):
                continue
            extra = next((kw.value for kw in node.keywords if kw.arg == "extra"), None)
            keys = []
            if isinstance(extra, ast.Dict):
                keys = [key.value for key in extra.keys if isinstance(key, ast.Constant)]
            if "task_id" not in keys:
                missing.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    return missing


def test_every_logging_call_of_the_package_passes_a_task_id() -> None:
    """21. Each logger call in tasq/ passes extra={"task_id": ...} (None where there is no task)."""
    assert logging_calls_without_task_id() == []


def test_a_format_with_task_id_never_fails_over_an_engines_life() -> None:
    """21. A handler formatting %(task_id)s sees start, failure, cancel and close records without an error."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s task=%(task_id)s %(message)s"))
    errors: list[BaseException] = []
    handler.handleError = lambda record: errors.append(Exception(record.getMessage()))  # type: ignore[method-assign]
    tasq_logger = logging.getLogger("tasq")
    tasq_logger.addHandler(handler)
    old_level = tasq_logger.level
    tasq_logger.setLevel(logging.DEBUG)
    try:
        engine = TasQ(workers=1, name="records")
        engine.start()
        engine.enqueue(lambda: 1 / 0)
        engine.enqueue(lambda: None, delay=60)
        engine.close(timeout=5)
    finally:
        tasq_logger.removeHandler(handler)
        tasq_logger.setLevel(old_level)
    assert errors == []
    text = stream.getvalue()
    assert "engine 'records' started" in text and "task=None" in text and "task=1" in text
