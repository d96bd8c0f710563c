"""TasQBackend: Django's Tasks framework on the process's engine (promise 12, docs/reliability.md; the contract)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import django
import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from tasq import TaskCancelled
from tasq.contrib.django import get_engine, signals
from tasq.contrib.django.backend import TasQBackend
from tests.contrib.django_ext.testapp import tasks

if django.VERSION >= (6, 0):
    from django.tasks import TaskResultStatus, default_task_backend, task_backends
    from django.tasks.exceptions import InvalidTaskBackend, TaskResultDoesNotExist
    from django.tasks.signals import task_enqueued, task_finished, task_started
else:
    from django_tasks import TaskResultStatus, default_task_backend, task_backends
    from django_tasks.exceptions import InvalidTaskBackendError as InvalidTaskBackend
    from django_tasks.exceptions import TaskResultDoesNotExist
    from django_tasks.signals import task_enqueued, task_finished, task_started

pytestmark = pytest.mark.timeout(30)

BACKEND = "tasq.contrib.django.backend.TasQBackend"


class DjangoSignals:
    """Django's task_enqueued / task_started / task_finished: (signal, result id, status then)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []
        self.lock = threading.Lock()

    def receiver(self, name: str) -> Any:
        def receive(sender: type, task_result: Any, **kwargs: Any) -> None:
            assert sender is TasQBackend
            with self.lock:
                self.events.append((name, task_result.id, str(task_result.status)))

        return receive

    def of(self, result_id: str) -> list[tuple[str, str]]:
        return [(name, status) for name, rid, status in self.events if rid == result_id]


@pytest.fixture
def django_signals() -> Iterator[DjangoSignals]:
    watcher = DjangoSignals()
    pairs = [(task_enqueued, "enqueued"), (task_started, "started"), (task_finished, "finished")]
    receivers = [(signal, watcher.receiver(name)) for signal, name in pairs]
    for signal, receiver in receivers:
        signal.connect(receiver)
    yield watcher
    for signal, receiver in receivers:
        signal.disconnect(receiver)


@pytest.fixture(autouse=True)
def _clear_shared() -> None:
    tasks.shared.clear()


def wait_finished(result: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not result.is_finished:
        assert time.monotonic() < deadline, f"task {result.id} still {result.status}"
        time.sleep(0.005)
        result.refresh()
    return result


def test_the_backend_supports_everything_and_is_the_configured_one() -> None:
    backend = default_task_backend
    assert isinstance(task_backends["default"], TasQBackend)
    assert (backend.supports_defer, backend.supports_priority) == (True, True)
    assert (backend.supports_async_task, backend.supports_get_result) == (True, True)


def test_enqueue_runs_in_the_background_and_get_result_works_from_another_thread(
    django_signals: DjangoSignals,
) -> None:
    result = tasks.echo.enqueue(1, (2, 3), key=b"bytes")
    assert result.id.endswith(f"-{get_engine().stats().enqueued}")
    assert result.args == [1, [2, 3]]  # normalised to JSON as Django does
    seen: list[Any] = []
    thread = threading.Thread(target=lambda: seen.append(wait_finished(tasks.echo.get_result(result.id))))
    thread.start()
    thread.join(10)
    [fetched] = seen
    assert fetched.status == TaskResultStatus.SUCCESSFUL
    value = fetched.return_value
    assert value["args"] == [1, [2, 3]]
    assert value["kwargs"] == {"key": "bytes"}
    assert value["thread"].startswith("tasq-django-worker-")
    assert fetched.enqueued_at <= fetched.started_at <= fetched.last_attempted_at <= fetched.finished_at
    assert fetched.errors == []
    assert len(fetched.worker_ids) == fetched.attempts == 1
    assert get_engine().join(10)
    # Django's own signals, once each, with the status moving READY -> RUNNING -> SUCCESSFUL.
    assert django_signals.of(result.id) == [("enqueued", "READY"), ("started", "RUNNING"), ("finished", "SUCCESSFUL")]


def test_a_failure_is_recorded_with_its_class_path_and_traceback(
    django_signals: DjangoSignals, caplog: pytest.LogCaptureFixture
) -> None:
    result = wait_finished(tasks.fail.enqueue("broken"))
    assert result.status == TaskResultStatus.FAILED
    [error] = result.errors
    assert error.exception_class_path == "builtins.ValueError"
    assert error.exception_class is ValueError
    assert "ValueError: broken" in error.traceback
    with pytest.raises(ValueError, match="Task failed"):
        _ = result.return_value
    assert get_engine().join(10)
    assert django_signals.of(result.id)[-1] == ("finished", "FAILED")
    # The engine's own ERROR log names the Django task, with the id of the result.
    [logged] = [r for r in caplog.records if r.name == "tasq" and r.levelname == "ERROR"]
    assert f"({tasks.fail.module_path}) failed: ValueError: broken" in logged.getMessage()
    assert result.id.endswith(f"-{logged.task_id}")  # type: ignore[attr-defined]


def test_a_return_value_that_is_not_json_fails_the_task() -> None:
    result = wait_finished(tasks.unserializable.enqueue())
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class_path == "builtins.TypeError"


def test_retry_task_retries_under_max_retry_and_each_attempt_is_recorded(django_signals: DjangoSignals) -> None:
    result = wait_finished(tasks.retry_twice.enqueue("r"))
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == {"tag": "r", "attempt": 3, "id": result.id}
    assert result.attempts == len(result.worker_ids) == 3
    assert [error.exception_class_path for error in result.errors] == ["tasq.exceptions.RetryTask"] * 2
    assert get_engine().join(10)
    statuses = [status for _, status in django_signals.of(result.id)]
    assert statuses == ["READY", "RUNNING", "RUNNING", "RUNNING", "SUCCESSFUL"]

    exhausted = wait_finished(tasks.always_retry.enqueue())
    assert exhausted.status == TaskResultStatus.FAILED
    assert exhausted.attempts == 3  # settings.TASQ["MAX_RETRY"]
    paths = [error.exception_class_path for error in exhausted.errors]
    assert paths == ["tasq.exceptions.RetryTask"] * 2 + ["tasq.exceptions.MaxRetryExceeded"]


def test_priority_orders_waiting_tasks() -> None:
    gate = tasks.shared["gate"] = threading.Event()
    started = tasks.shared["started"] = threading.Event()
    with override_settings(TASQ={"WORKERS": 1}):
        blocker = tasks.wait_for_gate.enqueue("first")
        assert started.wait(10), "the first task never started"
        blocker.refresh()
        assert blocker.status == TaskResultStatus.RUNNING
        low = tasks.wait_for_gate.using(priority=-10).enqueue("low")
        high = tasks.wait_for_gate.using(priority=10).enqueue("high")
        gate.set()
        for result in (blocker, low, high):
            wait_finished(result)
    assert tasks.shared["order"] == ["first", "high", "low"]


def test_run_after_defers_the_task() -> None:
    run_after = timezone.now() + timedelta(seconds=0.3)
    result = tasks.echo.using(run_after=run_after).enqueue()
    time.sleep(0.1)
    assert result.status == TaskResultStatus.READY
    wait_finished(result)
    assert result.started_at >= run_after


def test_async_tasks_run_and_async_code_enqueues_without_a_thread_hop() -> None:
    async def view() -> Any:
        result = await tasks.async_double.aenqueue(21)
        return await tasks.async_double.aget_result(result.id)

    result = wait_finished(asyncio.run(view()))
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 42


def test_tasq_signals_see_django_tasks_too() -> None:
    done: list[int] = []

    def receive(task_id: int, **kwargs: Any) -> None:
        done.append(task_id)

    signals.task_done.connect(receive)
    try:
        result = wait_finished(tasks.echo.enqueue())
        assert get_engine().join(10)
    finally:
        signals.task_done.disconnect(receive)
    assert [f"-{task_id}" for task_id in done] == [result.id[result.id.rindex("-") :]]


def test_pending_tasks_are_failed_as_cancelled_when_the_engine_closes(django_signals: DjangoSignals) -> None:
    result = tasks.echo.using(run_after=timezone.now() + timedelta(seconds=60)).enqueue()
    get_engine().close()
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class_path == f"{TaskCancelled.__module__}.TaskCancelled"
    assert result.started_at is None
    assert django_signals.of(result.id) == [("enqueued", "READY"), ("finished", "FAILED")]


def test_get_result_of_an_unknown_id_and_the_bounded_store() -> None:
    with pytest.raises(TaskResultDoesNotExist):
        tasks.echo.get_result("nope")
    with override_settings(TASKS={"default": {"BACKEND": BACKEND, "OPTIONS": {"RESULTS": 2}}}):
        results = [tasks.echo.enqueue(n) for n in range(5)]
        assert get_engine().join(10)
        for result in results[:3]:
            with pytest.raises(TaskResultDoesNotExist):
                tasks.echo.get_result(result.id)
        assert [tasks.echo.get_result(r.id).return_value["args"] for r in results[3:]] == [[3], [4]]


@pytest.mark.parametrize(
    ("options", "message"),
    [({"RESULT": 1}, "unknown option"), ({"RESULTS": -1}, "must be an int >= 0"), ({"RESULTS": "9"}, "int >= 0")],
)
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    with (
        override_settings(TASKS={"default": {"BACKEND": BACKEND, "OPTIONS": options}}),
        pytest.raises(InvalidTaskBackend, match=message),
    ):
        task_backends["default"]


def test_without_the_app_the_backend_checks_the_settings_and_warns_of_nothing_else() -> None:
    from django.core.checks import run_checks

    installed = [app for app in settings.INSTALLED_APPS if app != "tasq.contrib.django"]
    with override_settings(INSTALLED_APPS=installed, TASQ={"WORKERS": 0}):
        ids = [message.id for message in run_checks() if message.id.startswith("tasq.")]
    assert ids == ["tasq.E001"]
    assert [message.id for message in run_checks() if message.id.startswith("tasq.")] == []


def test_eager_engine_finishes_the_result_inside_enqueue(django_signals: DjangoSignals) -> None:
    with override_settings(TASQ={"EAGER": True}):
        result = tasks.echo.enqueue("now")
        assert result.status == TaskResultStatus.SUCCESSFUL
        assert result.return_value["thread"] == threading.current_thread().name
    assert [name for name, _ in django_signals.of(result.id)] == ["enqueued", "started", "finished"]


def test_override_settings_cycles_start_no_extra_pool_and_leave_threads_at_baseline(
    django_signals: DjangoSignals,
) -> None:
    # Promise 12 (docs/reliability.md): Django makes a backend per thread and anew on each settings change.
    baseline = threading.active_count()
    engine = get_engine()
    results = []
    peak = 0
    for cycle in range(100):
        with override_settings(TASKS={"default": {"BACKEND": BACKEND, "OPTIONS": {"RESULTS": 1000 + cycle}}}):
            backend = task_backends["default"]
            results.append(tasks.echo.enqueue(cycle))
            peak = max(peak, threading.active_count())
            assert get_engine() is engine
            # Django swaps settings under every thread (override_settings is not thread-safe):
            # a worker reading settings.USE_TZ then may see none. The task finishes first.
            assert engine.join(10)
        assert task_backends["default"] is not backend
    assert engine.join(10)
    assert peak <= baseline + engine.workers
    assert all(result.status == TaskResultStatus.SUCCESSFUL for result in results)
    per_result = Counter(result_id for _, result_id, _ in django_signals.events)
    assert set(per_result.values()) == {3}  # enqueued, started, finished: once each
    engine.close()
    deadline = time.monotonic() + 5
    while threading.active_count() > baseline and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == baseline
