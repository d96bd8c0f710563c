"""The Django app: one engine per process from settings.TASQ, @background, signals, logs, config errors."""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.test import override_settings

import tasq
from tasq import MaxRetryExceeded, RetryTask, TaskCancelled
from tasq.contrib.django import get_engine, signals
from tests.contrib.django_ext.testapp import tasks

pytestmark = pytest.mark.timeout(30)

SIGNALS = ("task_enqueued", "task_started", "task_retried", "task_done", "task_failed")


class Received:
    """Every tasq signal of the Django engine, as (signal name, task_id, extra kwargs)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int, dict[str, Any]]] = []
        self.senders: set[tasq.TasQ] = set()
        self.lock = threading.Lock()

    def receiver(self, name: str) -> Any:
        def receive(sender: tasq.TasQ, task_id: int, **kwargs: Any) -> None:
            kwargs.pop("signal")
            with self.lock:
                self.senders.add(sender)
                self.events.append((name, task_id, kwargs))

        return receive

    def counts(self, task_id: int) -> Counter[str]:
        return Counter(name for name, tid, _ in self.events if tid == task_id)


@pytest.fixture
def received() -> Iterator[Received]:
    watcher = Received()
    receivers = [(getattr(signals, name), watcher.receiver(name)) for name in SIGNALS]
    for signal, receiver in receivers:
        signal.connect(receiver)
    yield watcher
    for signal, receiver in receivers:
        signal.disconnect(receiver)


@pytest.fixture(autouse=True)
def _clear_shared() -> None:
    tasks.shared.clear()


def test_setup_starts_no_thread_and_the_engine_comes_from_settings() -> None:
    before = threading.active_count()
    engine = get_engine()
    assert engine is get_engine()
    assert (engine.workers, engine.max_retry, engine.name, engine.shutdown_timeout) == (4, 3, "django", 10.0)
    assert engine.autostart
    assert not engine.started
    assert threading.active_count() == before


def test_background_runs_on_the_django_engine_with_signals_and_logs_once_each(
    received: Received, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="tasq")
    task_id = tasks.record.enqueue("a")
    engine = get_engine()
    assert engine.join(10)
    [(tag, using, thread)] = tasks.shared["recorded"]
    assert (tag, using) == ("a", None)
    assert thread.startswith("tasq-django-worker-")
    assert received.senders == {engine}
    assert received.counts(task_id) == Counter(task_enqueued=1, task_started=1, task_done=1)
    messages = [(record.getMessage(), getattr(record, "task_id", None)) for record in caplog.records]
    for event in ("enqueued", "started", "done"):
        assert messages.count((f"task {task_id} {event}", task_id)) == 1


def test_retried_and_failed_tasks_carry_their_error(received: Received) -> None:
    retried = tasks.retry_once.enqueue("x")
    failed = tasks.explode.enqueue()
    assert get_engine().join(10)
    assert received.counts(retried) == Counter(task_enqueued=1, task_started=2, task_retried=1, task_done=1)
    assert received.counts(failed) == Counter(task_enqueued=1, task_started=1, task_failed=1)
    errors = {(name, tid): kwargs["error"] for name, tid, kwargs in received.events if "error" in kwargs}
    assert isinstance(errors["task_retried", retried], RetryTask)
    assert isinstance(errors["task_failed", failed], ValueError)


def test_a_receiver_that_raises_is_logged_and_the_task_still_runs(caplog: pytest.LogCaptureFixture) -> None:
    def broken(**kwargs: Any) -> None:
        raise RuntimeError("receiver bug")

    signals.task_started.connect(broken)
    try:
        task_id = tasks.record.enqueue("b")
        assert get_engine().join(10)
    finally:
        signals.task_started.disconnect(broken)
    assert [tag for tag, _, _ in tasks.shared["recorded"]] == ["b"]
    [record] = [r for r in caplog.records if r.name.startswith("tasq") and "receiver" in r.getMessage()]
    assert record.levelno == logging.ERROR
    assert record.task_id == task_id  # type: ignore[attr-defined]


def test_async_code_awaits_aenqueue_and_async_tasks_run_on_the_engine_loop() -> None:
    import asyncio

    async def view() -> int:
        return await tasks.sleep_then_return.aenqueue(0.01)

    task_id = asyncio.run(view())
    engine = get_engine()
    assert engine.join(10)
    assert engine.stats().done == 1
    assert task_id == 1


def test_eager_runs_tasks_in_the_callers_thread(received: Received) -> None:
    with override_settings(TASQ={"EAGER": True}):
        task_id = tasks.record.enqueue("e")
        assert tasks.shared["recorded"] == [("e", None, threading.current_thread().name)]
        assert received.counts(task_id) == Counter(task_enqueued=1, task_started=1, task_done=1)


def test_override_settings_closes_the_engine_and_the_next_use_makes_one_from_the_new_settings() -> None:
    first = get_engine()
    tasks.record.enqueue("before")
    with override_settings(TASQ={"WORKERS": 2, "NAME": "other"}):
        assert first.closed  # drained: what it held ran
        assert [tag for tag, _, _ in tasks.shared["recorded"]] == ["before"]
        second = get_engine()
        assert (second.workers, second.name) == (2, "other")
    assert second.closed
    assert get_engine().workers == 4


@pytest.mark.parametrize(
    ("tasq_setting", "message"),
    [
        ({"WORKERS": "10"}, "settings.TASQ['WORKERS']: workers must be an int"),
        ({"WORKERS": 0}, "settings.TASQ['WORKERS']: workers must be >= 1"),
        ({"RETRY_DELAY": -1}, "settings.TASQ['RETRY_DELAY']"),
        ({"ON_FULL": "drop"}, "settings.TASQ['ON_FULL']"),
        ({"WORKER": 3}, "unknown key(s) ['WORKER']"),
        ({"ON_DONE": "tests.nowhere.callback"}, "settings.TASQ['ON_DONE']"),
        ({"BACKEND": "carrier-pigeon"}, "settings.TASQ['BACKEND']: unknown backend 'carrier-pigeon'"),
        ({"BROKER_URL": "redis://127.0.0.1"}, "settings.TASQ['BACKEND']: BROKER_URL needs a distributed BACKEND"),
        ([("WORKERS", 1)], "settings.TASQ must be a dict"),
    ],
)
def test_bad_settings_fail_the_system_check_and_first_use_naming_the_key(tasq_setting: object, message: str) -> None:
    with override_settings(TASQ=tasq_setting):
        errors = [error for error in run_checks() if error.id.startswith("tasq.")]
        assert [error.id for error in errors] == ["tasq.E001"]
        assert message in errors[0].msg
        with pytest.raises(ImproperlyConfigured, match=re.escape(message)):
            tasks.record.enqueue("never")
    assert "recorded" not in tasks.shared


def test_callbacks_may_be_named_by_dotted_path() -> None:
    with override_settings(TASQ={"ON_FAILED": "tests.contrib.django_ext.testapp.tasks.record"}):
        assert get_engine().on_failed is tasks.record


def test_a_distributed_backend_with_the_django_tasks_backend_fails_the_check() -> None:
    from tasq.backends import BACKENDS

    if not BACKENDS:
        pytest.skip("no distributed backend is registered in this tree")
    name = sorted(BACKENDS)[0]
    with override_settings(TASQ={"BACKEND": name}):
        assert [error.id for error in run_checks() if error.id.startswith("tasq.")] == ["tasq.E002"]


def test_close_reports_pending_tasks_cancelled(received: Received) -> None:
    engine = get_engine()
    task_id = tasks.record.enqueue_with(("late",), delay=60)
    engine.close()
    [(_, tid, kwargs)] = [event for event in received.events if event[0] == "task_failed"]
    assert tid == task_id
    assert isinstance(kwargs["error"], TaskCancelled)
    assert get_engine() is not engine  # closed: the next use makes a new one


def test_max_retry_from_settings_bounds_attempts(received: Received) -> None:
    @tasq.background
    def always() -> None:
        raise RetryTask("again")

    with override_settings(TASQ={"MAX_RETRY": 2}):
        task_id = always.enqueue()
        assert get_engine().join(10)
    assert received.counts(task_id)["task_started"] == 2
    [error] = [kwargs["error"] for name, _, kwargs in received.events if name == "task_failed"]
    assert isinstance(error, MaxRetryExceeded)


@pytest.mark.django_db(transaction=True, databases=["default", "other"])
def test_enqueue_on_commit_waits_for_the_commit_on_its_own_database() -> None:
    engine = get_engine()
    with transaction.atomic():
        tasks.record.enqueue_on_commit(("committed",))
        assert engine.stats().enqueued == 0
    assert engine.stats().enqueued == 1
    with transaction.atomic():
        tasks.record.enqueue_on_commit(("rolled back",))
        transaction.set_rollback(True)
    with transaction.atomic(using="other"):
        # The function's own `using` argument is an argument, never the database.
        tasks.record.enqueue_on_commit(("other",), {"using": "its own"}, using="other", priority=5)
        with transaction.atomic():
            pass  # a commit on "default" is not the one it waits for
        assert engine.stats().enqueued == 1
    tasks.record.enqueue_on_commit(["no transaction"])  # autocommit: enqueued at once
    assert engine.join(10)
    recorded = sorted((tag, using) for tag, using, _ in tasks.shared["recorded"])
    assert recorded == [("committed", None), ("no transaction", None), ("other", "its own")]


@pytest.mark.parametrize(
    ("args", "options", "error"),
    [
        ("a@example.com", {}, TypeError),  # the common slip: the argument itself, not a tuple
        ((), {"kwargs": ["x"]}, TypeError),
        ((), {"using": 1}, TypeError),
        ((), {"priority": 101}, ValueError),
        ((), {"delay": -1}, ValueError),
    ],
)
def test_enqueue_on_commit_refuses_bad_input_at_the_call(args: Any, options: dict[str, Any], error: type) -> None:
    with pytest.raises(error):
        tasks.record.enqueue_on_commit(args, **options)
    assert get_engine().stats().enqueued == 0


def test_setup_checks_and_task_definitions_start_no_thread() -> None:
    # Promise 9 (docs/reliability.md), in a fresh interpreter: what gunicorn --preload does before fork().
    script = """
import threading, django
from django.conf import settings
settings.configure(
    INSTALLED_APPS=[
        "tasq.contrib.django",
        "tests.contrib.django_ext.testapp",
        *(["django_tasks"] if django.VERSION < (6, 0) else []),
    ],
    DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    TASKS={"default": {"BACKEND": "tasq.contrib.django.backend.TasQBackend"}},
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    USE_TZ=True,
)
django.setup()
from django.core.checks import run_checks
assert not run_checks(), run_checks()
from tests.contrib.django_ext.testapp import tasks  # @background and @task definitions
from tasq.contrib.django import get_engine
get_engine()
print(threading.active_count())
"""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["1"], out.stderr
