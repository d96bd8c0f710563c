"""``tasq worker --store``: a process of its own runs the tasks a web process stored."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tasq import TaskStatus, TasQ
from tasq.cli import main
from tests.backends.conftest import ROOT, tasq_command
from tests.stored import cli_tasks

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'tasq.db'}"
    monkeypatch.setenv("TASQ_TEST_STORE", url)
    monkeypatch.setenv("RUN_LOG", str(tmp_path / "runs.log"))
    return url


def start_worker(store: str, *extra: str) -> subprocess.Popen[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("TASQ_")}
    environment["TASQ_TEST_STORE"] = store
    return subprocess.Popen(
        [*tasq_command(), "worker", "--store", store, "tests.stored.cli_tasks", *extra],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_line(process: subprocess.Popen[str], text: str) -> list[str]:
    assert process.stdout is not None
    seen: list[str] = []
    for line in process.stdout:
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"the worker exited without saying {text!r}: {''.join(seen)}")


def test_a_worker_process_runs_what_the_web_process_stored(store: str) -> None:
    web = TasQ(store=store, name="cli", results=1000)  # never started: it only stores, as a web process may
    ids = [web.enqueue(cli_tasks.record.task(number)) for number in range(50)]
    worker = start_worker(store)
    try:
        wait_for_line(worker, "tasq worker: engine 'cli'")
        assert web.join(timeout=30)
        results = [web.result(task_id) for task_id in ids]
        assert [result.status for result in results if result is not None] == [TaskStatus.DONE] * 50
        assert [result.return_value for result in results if result is not None] == [n * 2 for n in range(50)]
        pids = {line.split()[1] for line in Path(os.environ["RUN_LOG"]).read_text().splitlines()}
        assert pids == {str(worker.pid)}
    finally:
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=30)[0]
    assert worker.returncode == 0, output
    assert "stopping" in output
    web.close()


def test_sigterm_lets_the_running_task_finish_and_leaves_the_rest_in_the_store(store: str) -> None:
    web = TasQ(store=store, name="cli", results=1000)
    first = web.enqueue(cli_tasks.slow.task(1.0))
    worker = start_worker(store, "--threads", "1")
    try:
        wait_for_line(worker, "slow task started")
        later = [web.enqueue(cli_tasks.record.task(number)) for number in range(5)]
    finally:
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=30)[0]
    assert worker.returncode == 0, output
    done = web.result(first)
    assert done is not None and done.status is TaskStatus.DONE
    left = [web.result(task_id) for task_id in later]
    assert all(result is not None and result.status is TaskStatus.PENDING for result in left)
    web.close()


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["worker", "m", "--store", "postgres://db"], "store must look like 'sqlite:///"),
        (["worker", "m", "--store", "sqlite:///x.db", "--processes", "2"], "--store runs one process"),
        (["worker", "m", "--store", "sqlite:///x.db", "--broker-url", "redis://h"], "exclude each other"),
    ],
)
def test_store_mistakes_are_refused_with_a_reason(
    args: list[str], error: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TASQ_BROKER_URL", raising=False)
    monkeypatch.delenv("TASQ_STORE", raising=False)
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    assert error in capsys.readouterr().err
