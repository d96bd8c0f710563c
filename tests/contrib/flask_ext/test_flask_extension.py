"""The Flask extension's contract, through Flask's test client (docs/flask.md)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from flask import Flask, current_app, g, has_request_context, request

import tasq
from tasq import RetryTask, TaskCancelled, background
from tasq.contrib.flask import TasQ, task_done, task_enqueued, task_failed, task_retried, task_started

pytestmark = pytest.mark.timeout(20)

MakeApp = Callable[..., Flask]


@pytest.fixture
def make_app() -> Iterator[MakeApp]:
    """Flask apps with TasQ registered; each app's engine is closed after the test."""
    apps: list[Flask] = []

    def make(name: str = "shop", **config: Any) -> Flask:
        app = Flask(name)
        app.config.update(config)
        TasQ(app)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["tasq"].close(timeout=5, cancel_pending=True)


def engine_of(app: Flask) -> tasq.TasQ:
    engine = app.extensions["tasq"]
    assert isinstance(engine, tasq.TasQ)
    return engine


class Events:
    """Every signal of one app, in order, as (signal name, task id, error)."""

    def __init__(self, app: Flask, stack: ExitStack) -> None:
        self.seen: list[tuple[str, int, BaseException | None]] = []
        self.lock = threading.Lock()
        for name, signal in [
            ("enqueued", task_enqueued),
            ("started", task_started),
            ("retried", task_retried),
            ("done", task_done),
            ("failed", task_failed),
        ]:
            stack.enter_context(signal.connected_to(self._receiver(name, app), sender=app))

    def _receiver(self, name: str, app: Flask) -> Callable[..., None]:
        def receive(sender: Flask, task_id: int, error: BaseException | None = None) -> None:
            assert sender is app
            with self.lock:
                self.seen.append((name, task_id, error))

        return receive

    def names(self, task_id: int) -> list[str]:
        return [name for name, tid, _ in self.seen if tid == task_id]


# -- registration and configuration ------------------------------------------------------


def test_app_and_factory_patterns_give_each_app_its_own_engine(make_app: MakeApp) -> None:
    direct = make_app("direct")
    extension = TasQ()
    factory_apps = [Flask(f"factory{n}") for n in range(2)]
    engines = [extension.init_app(app) for app in factory_apps]
    try:
        assert isinstance(engine_of(direct), tasq.TasQ)
        assert [engine_of(app) for app in factory_apps] == engines
        assert len({id(engine_of(direct)), *map(id, engines)}) == 3
        assert [engine.name for engine in engines] == ["factory0", "factory1"]
        assert vars(extension) == {}, "the extension must not hold an app"
    finally:
        for engine in engines:
            engine.close()


def test_registering_twice_on_one_app_is_a_clear_error(make_app: MakeApp) -> None:
    app = make_app()
    with pytest.raises(RuntimeError, match=r"already registered on app 'shop'.*once per app"):
        TasQ(app)
    with pytest.raises(RuntimeError, match="already registered"):
        TasQ().init_app(app)


def test_config_defaults_are_set_and_values_reach_the_engine(make_app: MakeApp) -> None:
    app = make_app(TASQ_WORKERS=3, TASQ_MAX_RETRY=5, TASQ_QUEUE_SIZE=7, TASQ_RESULTS=20, TASQ_ON_FULL="raise")
    engine = engine_of(app)
    configured = (engine.workers, engine.max_retry, engine.queue_size, engine.results, engine.on_full)
    assert configured == (3, 5, 7, 20, "raise")
    assert engine.autostart
    defaults = make_app("plain").config
    assert defaults["TASQ_WORKERS"] == 10
    assert defaults["TASQ_MAX_RETRY"] == 3
    assert defaults["TASQ_RETRY_DELAY"] == 0.0
    assert defaults["TASQ_QUEUE_SIZE"] == 0
    assert defaults["TASQ_RESULTS"] == 0
    assert defaults["TASQ_SHUTDOWN_TIMEOUT"] == 25.0
    assert defaults["TASQ_BACKEND"] == "thread"
    assert defaults["TASQ_NAME"] == "plain"


@pytest.mark.parametrize(
    ("config", "error", "message"),
    [
        ({"TASQ_WORKERS": -1}, ValueError, "TASQ_WORKERS: workers must be >= 1"),
        ({"TASQ_WORKERS": "10"}, TypeError, "TASQ_WORKERS: workers must be an int, not str"),
        ({"TASQ_MAX_RETRY": 0}, ValueError, "TASQ_MAX_RETRY"),
        ({"TASQ_RETRY_DELAY": "soon"}, TypeError, "TASQ_RETRY_DELAY"),
        ({"TASQ_QUEUE_SIZE": 1.5}, TypeError, "TASQ_QUEUE_SIZE"),
        ({"TASQ_ON_FULL": "drop"}, ValueError, "TASQ_ON_FULL"),
        ({"TASQ_SHUTDOWN_TIMEOUT": -1}, ValueError, "TASQ_SHUTDOWN_TIMEOUT"),
        ({"TASQ_EAGER": "yes"}, TypeError, "TASQ_EAGER"),
        ({"TASQ_BACKEND": "carrier-pigeon"}, ValueError, "TASQ_BACKEND: unknown backend"),
        ({"TASQ_BROKER_URL": "redis://127.0.0.1"}, ValueError, "TASQ_BROKER_URL"),
        ({"TASQ_WORKER": 4}, ValueError, r"unknown TasQ setting\(s\) \['TASQ_WORKER'\]"),
    ],
)
def test_bad_config_is_a_clear_error_at_init_app(
    config: dict[str, object], error: type[Exception], message: str
) -> None:
    app = Flask("bad")
    app.config.update(config)
    with pytest.raises(error, match=message):
        TasQ(app)
    assert "tasq" not in app.extensions


def test_no_thread_before_the_first_enqueue(make_app: MakeApp) -> None:
    before = threading.active_count()
    app = make_app()
    client = app.test_client()
    assert client.get("/nothing").status_code == 404
    assert threading.active_count() == before
    assert not engine_of(app).started
    with app.app_context():
        engine_of(app).submit(int)
    assert engine_of(app).started
    assert engine_of(app).join(5)


# -- which engine, and what a task sees ------------------------------------------------


@background
def whose_task(into: list[str]) -> None:
    into.append(current_app.name)


def test_background_functions_use_the_engine_of_the_app_they_are_enqueued_in(make_app: MakeApp) -> None:
    apps = [make_app("north"), make_app("south")]
    ran: list[str] = []
    for app in apps:

        @app.post("/go")
        def go() -> str:
            return str(whose_task.enqueue(ran))

    assert apps[0].test_client().post("/go").status_code == 200
    with apps[1].app_context():
        whose_task.enqueue(ran)
        whose_task.enqueue(ran)
    for app in apps:
        assert engine_of(app).join(5)
    assert [engine_of(app).stats().done for app in apps] == [1, 2]
    assert sorted(ran) == ["north", "south", "south"]


def test_tasks_run_in_a_fresh_app_context_and_never_in_the_request(make_app: MakeApp) -> None:
    app = make_app(TASQ_WORKERS=2, TASQ_RESULTS=10)
    teardowns: list[BaseException | None] = []
    app.teardown_appcontext(teardowns.append)
    extension = TasQ()

    def task() -> dict[str, object]:
        seen = {"app": current_app.name, "request": has_request_context(), "g_user": g.get("user")}
        g.user = "task"
        return seen

    @app.post("/signup")
    def signup() -> str:
        g.user = request.args["user"]
        return str(extension.enqueue(task))

    response = app.test_client().post("/signup?user=ada")
    task_id = int(response.get_data(as_text=True))
    assert engine_of(app).join(5)
    result = engine_of(app).result(task_id)
    assert result is not None
    assert result.return_value == {"app": "shop", "request": False, "g_user": None}
    # One teardown for the request's app context, one for the task's.
    assert teardowns == [None, None]


def test_each_task_tears_down_its_context_once_with_its_error(make_app: MakeApp) -> None:
    app = make_app(TASQ_WORKERS=4)
    lock = threading.Lock()
    teardowns: list[str] = []

    @app.teardown_appcontext
    def record(error: BaseException | None) -> None:
        with lock:
            teardowns.append(type(error).__name__ if error else "ok")

    def fine() -> None:
        g.value = 1

    def broken() -> None:
        raise LookupError("no such user")

    with app.app_context():
        engine = engine_of(app)
        for _ in range(50):
            engine.enqueue(fine)
        engine.enqueue(broken)
    assert engine.join(5)
    # The app_context() block above tore down too: 50 tasks + 1 failure + 1.
    assert sorted(teardowns) == ["LookupError"] + ["ok"] * 51


def test_async_tasks_run_in_the_app_context(make_app: MakeApp) -> None:
    app = make_app(TASQ_RESULTS=10)

    async def fetch() -> str:
        await asyncio.sleep(0)
        g.fetched = True
        return str(current_app.name)

    with app.app_context():
        task_id = engine_of(app).enqueue(fetch)
    assert engine_of(app).join(5)
    result = engine_of(app).result(task_id)
    assert result is not None
    assert result.return_value == "shop"


def test_the_extension_outside_an_app_context_says_what_is_missing() -> None:
    extension = TasQ()
    with pytest.raises(RuntimeError, match="needs an app context"):
        extension.enqueue(int)
    app = Flask("unregistered")
    with app.app_context(), pytest.raises(RuntimeError, match="not registered on app 'unregistered'"):
        extension.submit(int)


# -- signals and logs ---------------------------------------------------------------------


def test_signals_arrive_once_each_with_sender_task_id_and_error(make_app: MakeApp) -> None:
    app = make_app(TASQ_WORKERS=2, TASQ_MAX_RETRY=3)
    other = make_app("other")
    attempts: dict[str, int] = {"flaky": 0}

    def fine() -> None:
        pass

    def flaky() -> None:
        attempts["flaky"] += 1
        if attempts["flaky"] < 2:
            raise RetryTask("smtp busy")

    def broken() -> None:
        raise KeyError("gone")

    with ExitStack() as stack:
        events = Events(app, stack)
        with app.app_context():
            ids = [engine_of(app).enqueue(task) for task in (fine, flaky, broken)]
        with other.app_context():
            engine_of(other).enqueue(fine)  # another app's signals are not this app's
        assert engine_of(app).join(5)
        assert engine_of(other).join(5)
    fine_id, flaky_id, broken_id = ids
    assert events.names(fine_id) == ["enqueued", "started", "done"]
    assert events.names(flaky_id) == ["enqueued", "started", "retried", "started", "done"]
    assert events.names(broken_id) == ["enqueued", "started", "failed"]
    errors = {(name, tid): error for name, tid, error in events.seen if error is not None}
    assert isinstance(errors["retried", flaky_id], RetryTask)
    assert isinstance(errors["failed", broken_id], KeyError)
    assert len(events.seen) == 11


def test_cancelled_tasks_are_sent_as_failed(make_app: MakeApp) -> None:
    app = make_app()
    with ExitStack() as stack:
        events = Events(app, stack)
        with app.app_context():
            task_id = engine_of(app).enqueue(int, delay=60)
        engine_of(app).close()
    assert events.names(task_id) == ["enqueued", "failed"]
    assert isinstance(events.seen[-1][2], TaskCancelled)


def test_started_receivers_see_the_app_context_and_cannot_fail_the_task(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app()
    seen: list[str] = []

    def broken_receiver(sender: Flask, task_id: int) -> None:
        seen.append(current_app.name)
        raise ValueError("receiver bug")

    with task_started.connected_to(broken_receiver, sender=app), app.app_context():
        engine_of(app).enqueue(int)
        assert engine_of(app).join(5)
    assert seen == ["shop"]
    assert engine_of(app).stats().done == 1
    assert any("task_started receiver raised" in r.getMessage() for r in caplog.records)


def test_lifecycle_is_logged_at_debug_with_the_task_id(make_app: MakeApp, caplog: pytest.LogCaptureFixture) -> None:
    app = make_app()
    caplog.set_level(logging.DEBUG, logger="tasq")
    with app.app_context():
        task_id = engine_of(app).enqueue(int)
    assert engine_of(app).join(5)
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if getattr(r, "task_id", None) == task_id]
    assert lines == [
        ("DEBUG", f"task {task_id} enqueued"),
        ("DEBUG", f"task {task_id} started"),
        ("DEBUG", f"task {task_id} done"),
    ]


def test_eager_config_runs_tasks_inside_the_request_with_signals(make_app: MakeApp) -> None:
    app = make_app(TASQ_EAGER=True)
    ran: list[bool] = []

    @app.post("/now")
    def now() -> str:
        whose_task.enqueue([])
        ran.append(True)
        return "ok"

    with ExitStack() as stack:
        events = Events(app, stack)
        assert app.test_client().post("/now").status_code == 200
    assert ran == [True]
    assert [name for name, _, _ in events.seen] == ["enqueued", "started", "done"]
    assert not engine_of(app).started or engine_of(app).stats().workers == 0


GREETED: list[str] = []


@background(name="tests.flask_ext.greet")
def greet(who: str) -> None:
    # Arguments travel serialized to the worker: the task reports through a module global.
    GREETED.append(f"{who} from {current_app.name}")


def test_a_scale_out_backend_is_chosen_by_config_and_keeps_context_and_signals(make_app: MakeApp) -> None:
    # Dramatiq's in-process stub broker: the same path as redis:// or amqp://, no server.
    app = make_app("scaled", TASQ_BACKEND="dramatiq", TASQ_BROKER_URL="stub://")
    engine = engine_of(app)
    assert type(engine).__name__ == "DramatiqEngine"
    GREETED.clear()
    with ExitStack() as stack:
        events = Events(app, stack)
        with app.app_context():
            task_id = greet.enqueue("ada")
        assert engine.join(10)
    assert GREETED == ["ada from scaled"]
    assert events.names(task_id) == ["enqueued", "started", "done"]
