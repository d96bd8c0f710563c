"""Promise 21 (docs/reliability.md): every record of the ``tasq`` loggers carries ``task_id``."""

from __future__ import annotations

import ast
import io
import logging
import threading
from pathlib import Path

import pytest

from tasq import RetryTask, TasQ

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


def test_the_records_of_two_engines_tasks_say_which_engine(caplog: pytest.LogCaptureFixture) -> None:
    """21. Two engines, ids 1, 2, 3 in each: each one's failure, retry and cancellation records
    name their engine, in the message and as the ``engine`` attribute."""
    caplog.set_level(logging.DEBUG, logger="tasq")
    reported = threading.Semaphore(0)

    def fail() -> None:
        raise ValueError("broken")

    def retry() -> None:
        raise RetryTask("again")

    engines = [
        TasQ(workers=1, max_retry=2, name=name, on_failed=lambda task_id, error: reported.release())
        for name in ("orders", "mail")
    ]
    for engine in engines:
        engine.start()
        assert engine.enqueue(fail) == 1
        assert engine.enqueue(retry) == 2
        assert engine.enqueue(fail, delay=60) == 3  # cancelled by close(), not due yet
    for _ in range(4):
        assert reported.acquire(timeout=10)
    for engine in engines:
        engine.close(timeout=5)
    for _ in range(2):
        assert reported.acquire(timeout=10)

    said: dict[tuple[str, int], list[str]] = {}
    for record in caplog.records:
        if record.name == "tasq" and record.task_id is not None:  # type: ignore[attr-defined]
            engine_name = record.engine  # type: ignore[attr-defined]
            assert record.getMessage().startswith(f"engine {engine_name!r}: task {record.task_id} ")  # type: ignore[attr-defined]
            said.setdefault((engine_name, record.task_id), []).append(record.levelname)  # type: ignore[attr-defined]
    for name in ("orders", "mail"):
        assert said[name, 1] == ["ERROR"]  # failed
        assert said[name, 2] == ["WARNING", "ERROR"]  # asked for a retry, then MaxRetryExceeded
        assert said[name, 3] == ["DEBUG"]  # cancelled at close (the WARNING sums up the engine's)
    summaries = [r for r in caplog.records if "cancelled 1 task(s)" in r.getMessage()]
    assert sorted(r.engine for r in summaries) == ["mail", "orders"]  # type: ignore[attr-defined]
