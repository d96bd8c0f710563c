"""``tasq worker``: what a user types, and the answers to what they get wrong."""

from __future__ import annotations

import os
import subprocess

import pytest

from tasq.cli import main
from tests.backends.conftest import ROOT, tasq_command

pytestmark = pytest.mark.timeout(60)


def run_tasq(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("TASQ_")}
    return subprocess.run(
        [*tasq_command(), *args],
        cwd=ROOT,
        env={**environment, **(env or {})},
        capture_output=True,
        text=True,
        timeout=45,
    )


def test_help_shows_the_command_and_its_options() -> None:
    shown = run_tasq("worker", "--help")
    assert shown.returncode == 0
    for option in ("--broker-url", "--processes", "--threads", "--shutdown-timeout", "TASQ_BROKER_URL"):
        assert option in shown.stdout


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ([], "the following arguments are required: command"),
        (["worker"], "the following arguments are required: module"),
        (["worker", "myapp", "--processes", "0"], "must be at least 1"),
        (["worker", "myapp", "--threads", "many"], "not a whole number"),
        (["worker", "myapp", "--backend", "thread"], "runs in the app's own process"),
        (["worker", "myapp", "--backend", "rq"], "unknown backend 'rq'"),
        (["worker", "myapp", "--broker-url", "stub://"], "in-process broker"),
        (["worker", "myapp", "--broker-url", "http://example.com"], "speaks redis://"),
    ],
)
def test_mistakes_are_refused_with_a_reason(
    args: list[str], error: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TASQ_BROKER_URL", raising=False)
    monkeypatch.delenv("TASQ_BACKEND", raising=False)
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    assert error in capsys.readouterr().err


@pytest.mark.parametrize("backend", ["dramatiq", "celery"])
def test_a_module_that_does_not_import_stops_the_worker_with_status_2(backend: str) -> None:
    url = "redis://127.0.0.1:6379/15"
    ran = run_tasq("worker", "myapp_that_is_not_there", "-p", "1", "--broker-url", url, "--backend", backend)
    assert ran.returncode == 2
    assert "No module named 'myapp_that_is_not_there'" in ran.stderr


@pytest.mark.parametrize("backend", ["dramatiq", "celery"])
def test_without_a_broker_url_anywhere_the_worker_says_where_to_give_one(backend: str) -> None:
    ran = run_tasq("worker", "tests.backends.tasks", "-p", "1", "--backend", backend)  # functions, but no engine
    assert ran.returncode == 2
    assert f"no broker URL (none of the modules made a {backend} engine)" in ran.stderr


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--broker-url", "stub://"], "backend='celery' speaks redis://"),
        (["--broker-url", "redis://127.0.0.1/15?visibility_timeout=soon"], "visibility_timeout must be a number"),
        (["--broker-url", "amqp://127.0.0.1/?visibility_timeout=60"], "visibility_timeout is a Redis setting"),
        (
            ["--broker-url", "redis://127.0.0.1/15?visibility_timeout=10", "--shutdown-timeout", "30"],
            "must exceed --shutdown-timeout",
        ),
    ],
)
def test_celery_worker_mistakes_are_refused_with_a_reason(
    args: list[str], error: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TASQ_BROKER_URL", raising=False)
    with pytest.raises(SystemExit) as exited:
        main(["worker", "myapp", "--backend", "celery", *args])
    assert exited.value.code == 2
    assert error in capsys.readouterr().err
