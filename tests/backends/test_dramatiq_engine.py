"""What the Dramatiq engine adds to the contract: configuration, names, eager mode, close,
the ledger's dedup and the worker's answers to messages it cannot run."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tasq import RetryTask, TaskCancelled, TasQ, background, backoff
from tasq.backends import engine_class
from tasq.backends.dramatiq import DramatiqEngine, queue_name
from tasq.backends.ledger import RemoteTaskError
from tasq.backends.payload import TaskMessage
from tasq.backends.registry import collect_functions
from tasq.hooks import given_up
from tasq.testing import eager
from tests.backends import tasks
from tests.backends.conftest import ENGINE, ROOT, WorkerProcess, clean_redis, tasq_command
from tests.services import REDIS_URL, require
from tests.support import Recorder

pytestmark = pytest.mark.timeout(20)


@pytest.fixture
def stub() -> Iterator[list[TasQ]]:
    made: list[TasQ] = []
    yield made
    for engine in made:
        engine.close(timeout=5, cancel_pending=True)


def make_stub(made: list[TasQ], **options: Any) -> TasQ:
    engine = TasQ(backend="dramatiq", broker_url="stub://", **options)
    made.append(engine)
    return engine


# -- configuration --------------------------------------------------------------------


def test_the_backend_is_chosen_by_configuration_and_starts_nothing() -> None:
    before = threading.active_count()
    engine = TasQ(backend="dramatiq", broker_url="redis://127.0.0.1:1/0", workers=3, max_retry=5, name="config")
    assert type(engine) is DramatiqEngine and engine_class("dramatiq") is DramatiqEngine
    assert (engine.workers, engine.max_retry, engine.name, engine.queue) == (3, 5, "config", "tasq.config")
    assert not engine.started and threading.active_count() == before  # no thread, no connection
    assert "127.0.0.1:1" in repr(engine)
    engine.close()


def test_the_broker_url_comes_from_the_environment_and_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASQ_BROKER_URL", "amqp://guest:secret@127.0.0.1:5672/")
    engine = TasQ(backend="dramatiq")
    assert engine.broker_url == "amqp://guest:secret@127.0.0.1:5672/"  # type: ignore[attr-defined]
    assert "secret" not in repr(engine)
    engine.close()
    monkeypatch.delenv("TASQ_BROKER_URL")
    with pytest.raises(ValueError, match="needs broker_url"):
        TasQ(backend="dramatiq")
    with pytest.raises(ValueError, match="speaks redis://"):
        TasQ(backend="dramatiq", broker_url="kafka://127.0.0.1:9092")
    with pytest.raises(ValueError, match="queue_size"):
        TasQ(backend="dramatiq", broker_url="stub://", queue_size=10)
    with pytest.raises(ValueError, match="unknown backend"):
        TasQ(backend="celery-someday", broker_url="stub://")
    with pytest.raises(TypeError, match="workers"):
        TasQ(backend="dramatiq", broker_url="stub://", workers="4")  # type: ignore[arg-type]


def test_an_unreachable_broker_fails_the_enqueue_and_accepts_nothing() -> None:
    engine = TasQ(backend="dramatiq", broker_url="redis://127.0.0.1:1/0")
    with pytest.raises(Exception, match=r"Connection refused|Error 111"):
        engine.enqueue(tasks.add.task(1, 2))
    assert engine.stats().enqueued == 0
    engine.close()


# -- names ----------------------------------------------------------------------------


def test_functions_a_worker_cannot_import_are_refused_unless_named(stub: list[TasQ]) -> None:
    engine = make_stub(stub)

    def nested() -> None:
        pass

    def in_main() -> None:
        pass

    in_main.__module__ = "__main__"
    refused = {"nested function": background(nested), "lambda": background(lambda: None)}
    refused["__main__"] = background(in_main)
    for why, function in refused.items():
        with pytest.raises(TypeError, match=why.split()[0]):
            engine.enqueue(function.task())
    assert engine.stats().enqueued == 0
    named = background(name="tests.named_nested")(nested)
    assert type(engine.enqueue(named.task())) is int


def test_only_background_functions_can_be_sent(stub: list[TasQ]) -> None:
    engine = make_stub(stub)

    class Task:
        def do(self) -> None:
            pass

    with pytest.raises(TypeError, match="decorate"):
        engine.enqueue(Task())
    with pytest.raises(TypeError, match="decorate"):
        engine.enqueue(print)
    with pytest.raises(TypeError, match="decorate"):
        engine.submit(print, "x")


def test_the_worker_finds_functions_by_full_name_and_refuses_two_of_one_name() -> None:
    found = collect_functions([tasks])
    assert found["tests.backends.tasks.add"] is tasks.add
    assert found["contract.renamed"] is tasks.renamed  # name= wins over module.qualname
    twin = background(name="contract.renamed")(tasks.add.fn)

    class Module:
        pass

    other = Module()
    other.twin = twin  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match=r"two @background functions are named 'contract\.renamed'"):
        collect_functions([tasks, other])  # type: ignore[list-item]


# -- the in-memory broker -------------------------------------------------------------


def test_tasks_wait_for_start_and_a_callable_retry_delay_is_looked_up_in_the_worker(stub: list[TasQ]) -> None:
    rec = Recorder()
    engine = make_stub(stub, on_done=rec.on_done, on_failed=rec.on_failed, results=10)
    calls: list[float] = []

    @background(name="tests.backoff_task", retry_delay=backoff(0.05, jitter=False))
    def flaky() -> None:
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise RetryTask

    task_id = engine.enqueue(flaky.task())
    assert not rec.wait(1, timeout=0.2)  # not started: it waits in the broker
    engine.start()
    assert rec.wait(1)
    rec.assert_once_each([task_id])
    assert calls[1] - calls[0] >= 0.045 and calls[2] - calls[1] >= 0.095  # 0.05 s, then 0.1 s
    result = engine.result(task_id)
    assert result is not None and result.attempts == 3


def test_close_cancels_what_is_pending_or_not_due(stub: list[TasQ]) -> None:
    rec = Recorder()
    engine = make_stub(stub, workers=1, on_done=rec.on_done, on_failed=rec.on_failed)
    engine.start()
    running = engine.enqueue(tasks.sleep_then.task(0.3, 1))
    pending = [engine.enqueue(tasks.add.task(i, i)) for i in range(20)]
    later = engine.enqueue(tasks.add.task(0, 0), delay=60)
    time.sleep(0.1)
    started = time.monotonic()
    assert engine.close(cancel_pending=True) == []
    assert time.monotonic() - started < 2.0
    rec.assert_once_each([running, *pending, later])
    assert rec.done[running] == 1
    assert all(isinstance(errors[0], TaskCancelled) for errors in rec.failed.values())
    assert later in rec.failed
    assert engine.stats().cancelled == len(rec.failed)


def test_a_graceful_close_runs_what_is_due_and_cancels_only_what_is_not(stub: list[TasQ]) -> None:
    rec = Recorder()
    engine = make_stub(stub, workers=2, on_done=rec.on_done, on_failed=rec.on_failed)
    engine.start()
    due = [engine.enqueue(tasks.sleep_then.task(0.01, i)) for i in range(20)]
    later = engine.enqueue(tasks.add.task(1, 1), delay=60)
    assert engine.close() == []
    rec.assert_once_each([*due, later])
    assert set(rec.done) == set(due) and set(rec.failed) == {later}


def test_an_engine_never_started_reports_its_tasks_cancelled_at_close(stub: list[TasQ]) -> None:
    rec = Recorder()
    engine = make_stub(stub, on_failed=rec.on_failed)
    ids = [engine.enqueue(tasks.add.task(i, i)) for i in range(3)]
    engine.close()
    rec.assert_once_each(ids)


def test_shutdown_reports_what_still_runs_cancelled_once(stub: list[TasQ]) -> None:
    rec = Recorder()
    engine = make_stub(stub, workers=1, on_done=rec.on_done, on_failed=rec.on_failed)
    engine.start()
    task_id = engine.enqueue(tasks.sleep_then.task(1.0, 1))
    assert wait_for(lambda: engine.running_ids() == [task_id])
    engine.shutdown("the test ended", timeout=0.1)
    engine.shutdown("again")  # does nothing
    assert isinstance(rec.error(task_id), TaskCancelled) and given_up("the test ended") == str(rec.error(task_id))
    time.sleep(1.1)  # the task ends after all: its outcome is not reported a second time
    rec.assert_once_each([task_id])


def test_async_enqueue_and_the_context_manager(stub: list[TasQ]) -> None:
    rec = Recorder()
    with TasQ(backend="dramatiq", broker_url="stub://", on_done=rec.on_done) as engine:
        task_id = asyncio.run(engine.aenqueue(tasks.async_double.task(2)))
        assert engine.join(5)
    assert engine.closed and rec.done[task_id] == 1


# -- eager mode -----------------------------------------------------------------------


def test_eager_mode_runs_inline_with_what_a_worker_would_receive() -> None:
    # An unreachable broker: eager mode never talks to it.
    engine = TasQ(backend="dramatiq", broker_url="redis://127.0.0.1:1/0", eager=True, results=5)
    rec = Recorder()
    engine.on_done, engine.on_failed = rec.on_done, rec.on_failed
    task_id = engine.enqueue(tasks.echo.task({"a": [1, 2]}))
    result = engine.result(task_id)
    assert result is not None and result.return_value == {"a": [1, 2]}
    retried = engine.enqueue(tasks.retry_until.task(f"eager-{time.time()}", 3))
    assert rec.done == {task_id: 1, retried: 1}
    with pytest.raises(TypeError, match="tuple"):
        engine.enqueue(tasks.echo.task((1, 2)))  # refused in tests as it would be in production
    engine.close()


def test_tasq_testing_eager_covers_dramatiq_engines() -> None:
    engine = TasQ(backend="dramatiq", broker_url="redis://127.0.0.1:1/0")
    with eager(engine, propagate=True), pytest.raises(ValueError, match="on purpose"):
        engine.enqueue(tasks.fail.task("ValueError"))
    assert engine.stats().failed == 1
    engine.close()


# -- the worker's side, over Redis ----------------------------------------------------


def send_raw(name: str, header: dict[str, Any] | None, engine: str = ENGINE) -> None:
    """A message as a producer of another version (or a bug) might send it."""
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker

    broker = RedisBroker(url=REDIS_URL)  # type: ignore[no-untyped-call]
    broker.declare_queue(queue_name(engine))
    options = {} if header is None else {"tasq": header}
    broker.enqueue(
        dramatiq.Message(queue_name=queue_name(engine), actor_name=name, args=(), kwargs={}, options=options)
    )
    broker.client.connection_pool.disconnect()


def wait_for(condition: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.mark.services
def test_a_redelivered_finished_task_is_skipped_not_reported_twice(redis_worker: WorkerProcess) -> None:
    engine = TasQ(backend="dramatiq", broker_url=REDIS_URL, name=ENGINE, results=5)
    task_id = engine.enqueue(tasks.add.task(1, 1))
    assert redis_worker.events.wait([task_id])
    message = TaskMessage(
        id=task_id, name="tests.backends.tasks.add", args=[1, 1], kwargs={}, engine=ENGINE,
        max_retry=3, retry_delay=0.0, results=5, producer="another",
    )  # fmt: skip
    send_raw(message.name, message.header())  # as if the worker had died before its ack
    assert wait_for(lambda: f"task {task_id} was delivered again after it finished; skipped" in redis_worker.log())
    redis_worker.events.assert_once_each([task_id])
    engine.close()


@background
def not_imported_by_the_worker() -> None:
    """The worker imports tests.backends.worker_app, which never imports this module."""


@pytest.mark.services
def test_a_task_the_worker_does_not_know_is_reported_failed(redis_worker: WorkerProcess) -> None:
    engine = TasQ(backend="dramatiq", broker_url=REDIS_URL, name=ENGINE, results=5)
    task_id = engine.enqueue(not_imported_by_the_worker.task())
    send_raw("myapp.not_tasq", None)  # not TasQ's: Dramatiq dead-letters it, TasQ stays out
    assert redis_worker.events.wait([task_id])
    (failed,) = redis_worker.events.of(task_id, "on_failed")
    assert failed["error"] == "LookupError"
    result = engine.result(task_id)
    assert result is not None and "no @background function named" in str(result.error)
    engine.close()


@pytest.mark.services
def test_result_of_a_failure_in_another_process_carries_its_type_and_traceback(redis_worker: WorkerProcess) -> None:
    engine = TasQ(backend="dramatiq", broker_url=REDIS_URL, name=ENGINE, results=5)
    task_id = engine.enqueue(tasks.fail.task("ValueError"))
    assert engine.join(10)
    result = engine.result(task_id)
    assert result is not None and isinstance(result.error, RemoteTaskError)
    assert result.error.type_name == "ValueError" and "raise errors[kind]" in result.error.traceback
    engine.close()


@pytest.fixture
def fresh_name() -> Iterator[Callable[[str], str]]:
    """A Redis engine name of this test's own; its keys are deleted after it."""
    require("Redis")
    names: list[str] = []

    def make(prefix: str) -> str:
        names.append(f"{prefix}-{uuid.uuid4().hex[:8]}")
        return names[-1]

    yield make
    clean_redis(*names)


@pytest.mark.services
def test_a_closed_web_engine_does_not_wait_for_the_workers(fresh_name: Callable[[str], str]) -> None:
    engine = TasQ(backend="dramatiq", broker_url=REDIS_URL, name=fresh_name("unserved"))
    engine.enqueue(tasks.add.task(1, 1))  # no worker serves this engine: it stays in Redis
    assert engine.join(0.1) is False
    engine.close()
    started = time.monotonic()
    assert engine.join() is True  # it belongs to the broker now
    engine.shutdown()
    assert time.monotonic() - started < 1.0


@pytest.mark.services
def test_a_forked_child_sends_on_its_own_connection(fresh_name: Callable[[str], str]) -> None:
    engine = TasQ(backend="dramatiq", broker_url=REDIS_URL, name=fresh_name("forked"))
    parent_id = engine.enqueue(tasks.add.task(1, 1))
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.write(write, json.dumps(engine.enqueue(tasks.add.task(2, 2))).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child_id = json.loads(pipe.read())
    os.waitpid(pid, 0)
    assert child_id > parent_id
    assert engine.stats().enqueued == 1  # the child's count was the child's
    engine.close()


@pytest.mark.services
@pytest.mark.timeout(60)
def test_a_worker_told_the_engine_name_runs_tasks_no_module_made_an_engine_for(
    tmp_path: Path, fresh_name: Callable[[str], str]
) -> None:
    # Starlette builds its middleware (and so the engine) at the first request, not at import.
    name = fresh_name("named")
    command = [*tasq_command(), "worker", "tests.backends.tasks", "-p", "1", "-t", "2", "--name", name]
    env = {**os.environ, "TASQ_BROKER_URL": REDIS_URL, "dramatiq_worker_timeout": "100"}
    log = tmp_path / "worker.log"
    with log.open("w") as output:
        worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    engine = TasQ(backend="dramatiq", broker_url=REDIS_URL, name=name, results=5)
    try:
        task_id = engine.enqueue(tasks.add.task(2, 3))
        assert engine.join(30), log.read_text()[-2000:]
        result = engine.result(task_id)
        assert result is not None and result.return_value == 5
        assert f"no engine named {name!r} was made by the modules this worker imported" in log.read_text()
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
        engine.close()
