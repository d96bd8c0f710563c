"""Promise 23 (docs/reliability.md): eager mode runs a task as the pool would."""

from __future__ import annotations

import sys
import threading
import traceback

import pytest

from tasq import RetryTask
from tasq.testing import eager
from tests.support import Make, Recorder, raising

pytestmark = pytest.mark.timeout(30)


def test_an_eager_task_in_a_flask_view_does_not_see_the_request() -> None:
    """23. Flask, TASQ_EAGER: the task sees its app (as in the pool), never the request."""
    flask = pytest.importorskip("flask")
    from tasq.contrib.flask import TasQ as FlaskTasQ

    app = flask.Flask("eager_view")
    app.config.update(TASQ_EAGER=True)
    extension = FlaskTasQ(app)
    seen: list[tuple[bool, bool]] = []

    def task() -> None:
        seen.append((flask.has_request_context(), flask.has_app_context()))

    @app.get("/")
    def view() -> str:
        extension.engine.enqueue(task)
        return "ok"

    try:
        assert app.test_client().get("/").status_code == 200
    finally:
        app.extensions["tasq"].close(timeout=5)
    assert seen == [(False, True)]


def test_an_eager_retry_runs_outside_the_failed_attempts_except_block(make_engine: Make) -> None:
    """23. Eager retries: no stale sys.exc_info(), no chained "During handling" in the last failure."""
    recorder = Recorder()
    engine = make_engine(eager=True, max_retry=3, retry_delay=0, on_done=recorder.on_done, on_failed=recorder.on_failed)
    handled: list[object] = []
    attempts: list[int] = []

    def flaky() -> None:
        handled.append(sys.exc_info()[1])
        attempts.append(1)
        if len(attempts) < 3:
            raise RetryTask("again")
        raise ValueError("third and last")

    task_id = engine.enqueue(flaky)
    assert handled == [None, None, None]
    error = recorder.error(task_id)
    assert type(error) is ValueError
    assert error.__context__ is None
    assert "During handling" not in "".join(traceback.format_exception(error))


def test_an_eager_async_task_that_enqueues_another_async_task_does_not_deadlock(make_engine: Make) -> None:
    """23. Eager: async task A enqueues async task B; both run inside enqueue, B first to finish."""
    recorder = Recorder()
    engine = make_engine(eager=True, on_done=recorder.on_done, on_failed=recorder.on_failed)
    finished: list[str] = []

    async def inner() -> None:
        finished.append("inner")

    async def outer() -> None:
        engine.enqueue(inner)
        finished.append("outer")

    ids: list[int] = []
    thread = threading.Thread(target=lambda: ids.append(engine.enqueue(outer)), daemon=True)
    thread.start()
    thread.join(5)
    assert not thread.is_alive(), "the eager async task deadlocked"
    assert finished == ["inner", "outer"]
    assert recorder.wait(2, timeout=1) and not recorder.failed


def test_eager_propagate_keeps_the_error_when_on_failed_enqueues_a_follow_up(make_engine: Make) -> None:
    """23. eager(propagate=True): on_failed enqueues a follow-up; enqueue still raises the task's error."""
    followed: list[int] = []
    engine = make_engine()

    def on_failed(task_id: int, error: BaseException) -> None:
        if not followed:
            followed.append(engine.enqueue(lambda: None))

    engine.on_failed = on_failed
    with eager(engine, propagate=True), pytest.raises(ValueError, match="the original"):
        engine.enqueue(raising(ValueError("the original")))
    assert followed
