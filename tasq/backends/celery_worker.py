"""The Celery worker of ``tasq worker --backend celery``: one process, one Celery worker.

``run_worker`` loads the app (``load_app``), builds the Celery app TasQ's engines send
through (``make_app``), registers the one task ``tasq.run`` and starts Celery's worker with
``ThreadPool``: Celery's threads pool, whose threads fire the engines' ``worker_started``
and ``worker_stopped`` hooks. ``Runner`` is the body of ``tasq.run``: it finds the function
by name and runs the attempt through the engine's executor, ``begin`` → ``run`` →
``settle``; a retry is Celery's ``Task.retry``. The warm shutdown Celery does on SIGTERM is
bounded by ``--shutdown-timeout``, after which it turns cold.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, wait
from dataclasses import replace
from queue import SimpleQueue
from typing import Any, ClassVar
from urllib.parse import urlsplit

from celery.concurrency.base import BasePool, apply_target
from celery.exceptions import Reject

from .base import BrokerEngine, WorkerOptions, redact
from .celery import (
    LOG_FORMAT,
    REDIS_SCHEMES,
    REPR_SIZE,
    RUNNER,
    CeleryEngine,
    broker_settings,
    check_visibility,
    make_app,
    queue_name,
    shown,
)
from .ledger import Ledger, NullLedger
from .payload import TaskMessage
from .redis_ledger import RedisLedger
from .redis_url import for_redis_py
from .worker import WorkerApp, load_app

__all__ = ["Runner", "ThreadPool", "run_worker"]

logger = logging.getLogger("tasq")


class Runner:
    """The body of ``tasq.run`` in a worker process: one attempt, one outcome."""

    def __init__(self, app: WorkerApp, ledger: Ledger) -> None:
        self.app = app
        self.ledger = ledger

    def __call__(self, task: Any, name: str, args: Any, kwargs: Any, header: Any) -> None:
        message = TaskMessage.read(name, args, kwargs, header)
        if message is None:
            logger.error("a %s message without TasQ's header was dropped", RUNNER, extra={"task_id": None})
            return
        engine = self.app.resolve(message.engine)
        executor = engine.executor
        function = self.app.functions.get(name)
        if function is None:
            error = LookupError(
                f"this worker has no @background function named {name!r}: "
                "start it with the module that defines it (tasq worker myapp.tasks)"
            )
            executor.fail(self.ledger, message, error)
            return
        attempt = executor.begin(self.ledger, message, function.options)
        if attempt is None:
            return
        failure: BaseException | None = None
        try:
            executor.run(attempt, function.fn, message.args, message.kwargs)
        except BaseException as raised:  # noqa: BLE001 - a task's exception is its outcome
            failure = raised
        delay = executor.settle(attempt, failure)
        if delay is None:
            return  # the value stays with TasQ: Celery's result backend is off
        following = replace(message, attempt=message.attempt + 1)
        try:
            retry = task.retry(
                args=(name, args, kwargs, following.header()),
                kwargs={},
                countdown=delay,
                throw=False,
                argsrepr=shown(message),
                kwargsrepr=repr(message.kwargs)[:REPR_SIZE],
            )
        except Reject as refused:  # the broker refused the next attempt: the task fails
            executor.fail(self.ledger, following, refused.reason)
            return
        raise retry  # Celery acknowledges this message; the next attempt is in the broker


class ThreadPool(BasePool):  # type: ignore[misc]  # Celery ships no type hints
    """Celery's threads pool, with TasQ's ``worker_started``/``worker_stopped`` hooks
    fired in each worker thread (a Django connection is closed in the thread that opened it)."""

    body_can_be_buffer = True
    signal_safe = False
    hooks: ClassVar[Callable[[], list[BrokerEngine]]] = list  # set by run_worker

    def on_start(self) -> None:
        self._work: SimpleQueue[tuple[Future[object], tuple[Any, ...]] | None] = SimpleQueue()
        self._threads = [
            threading.Thread(target=self._loop, name=f"tasq-worker-{n}", daemon=True) for n in range(self.limit)
        ]
        for thread in self._threads:
            thread.start()

    def _loop(self) -> None:
        engines = type(self).hooks()
        for engine in engines:
            engine.executor.thread_started()
        try:
            while (item := self._work.get()) is not None:
                future, call = item
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(apply_target(*call))
                    except BaseException as error:  # noqa: BLE001 - Celery's tracer reports task errors
                        future.set_exception(error)
        finally:
            for engine in engines:
                engine.executor.thread_stopped()

    def on_apply(
        self,
        target: Callable[..., Any],
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
        callback: Callable[..., Any] | None = None,
        accept_callback: Callable[..., Any] | None = None,
        **_: Any,
    ) -> Applied:
        applied = Applied()
        self._work.put((applied.future, (target, args, kwargs, callback, accept_callback)))
        return applied

    def terminate_job(self, pid: int, signal: int | None = None) -> None:
        """A cold stop cancels what runs: a thread cannot be killed, so it runs on until the
        process ends; its message was not acknowledged, and the broker delivers it again."""

    def on_stop(self) -> None:
        """Warm: what waits is not started (its message goes back to the broker); running tasks end."""
        from celery.worker import state

        if state.should_terminate:  # a cold stop: Celery has cancelled what runs
            self.on_terminate()
            return
        pending: list[Future[object]] = []
        while not self._work.empty():
            item = self._work.get()
            if item is not None:
                pending.append(item[0])
        for future in pending:
            future.cancel()
        for _ in self._threads:
            self._work.put(None)
        for thread in self._threads:
            while thread.is_alive() and not state.should_terminate:  # a cold stop ends the wait
                thread.join(0.1)
        _finished.set()

    def on_terminate(self) -> None:
        """Cold: the threads are not waited for (daemons: they end with the process)."""
        for _ in self._threads:
            self._work.put(None)

    def _get_info(self) -> dict[str, Any]:
        info: dict[str, Any] = super()._get_info()
        info.update({"max-concurrency": self.limit, "threads": len(self._threads)})
        return info


class Applied:
    """What the pool hands Celery for one task: its future, which a thread cannot be made to drop."""

    __slots__ = ("__weakref__", "future")  # Celery keeps a weak reference to it

    def __init__(self) -> None:
        self.future: Future[object] = Future()

    def get(self, timeout: float | None = None) -> object:
        return self.future.result(timeout)

    def wait(self, timeout: float | None = None) -> None:
        wait([self.future], timeout)

    def terminate(self, signal: int | None = None) -> None:
        pass


def run_worker(options: WorkerOptions) -> int:
    """One Celery worker in this process, for the modules and engines of ``options``."""
    sys.path[:0] = [os.path.abspath(path) for path in options.paths]
    try:
        app = load_app(CeleryEngine, options.modules, options.broker_url, options.names)
    except ImportError as error:
        logging.basicConfig(format=LOG_FORMAT)
        logger.critical("tasq worker: %s", error, exc_info=error, extra={"task_id": None})
        return 2
    except SystemExit as exited:
        return int(exited.code or 0)
    check_visibility(app.broker_url, options.shutdown_timeout)
    celery = make_app(app.broker_url, app.names)
    url, _ = broker_settings(app.broker_url)
    ledger: Ledger = NullLedger()
    if urlsplit(url).scheme in REDIS_SCHEMES:
        import redis

        ledger = RedisLedger(redis.Redis.from_url(for_redis_py(url)))
    runner = Runner(app, ledger)

    def run(task: Any, name: str, args: Any, kwargs: Any, header: Any) -> None:
        runner(task, name, args, kwargs, header)

    celery.task(name=RUNNER, bind=True, max_retries=None, typing=False, ignore_result=True)(run)
    ThreadPool.hooks = app.served
    worker = celery.Worker(
        hostname=f"tasq-{os.getpid()}@{socket.gethostname()}",
        pool_cls=ThreadPool,
        concurrency=options.threads,
        queues=[queue_name(name) for name in app.names],
        loglevel="DEBUG" if options.verbose else "INFO",
        without_mingle=True,
        without_gossip=True,
        without_heartbeat=True,
        quiet=True,
    )
    _bound_warm_shutdown(options.shutdown_timeout, app.served)
    app.start_served()
    logger.info(
        "tasq worker on %s, queues %s: %d @background function(s): %s",
        redact(app.broker_url),
        ", ".join(queue_name(name) for name in app.names),
        len(app.functions),
        ", ".join(sorted(app.functions)) or "none (name the modules that define them)",
        extra={"task_id": None},
    )
    if not options.verbose:  # a line per task received and per task finished: TasQ logs failures itself
        for name in ("celery.worker.strategy", "celery.app.trace"):
            logging.getLogger(name).setLevel(logging.WARNING)
    worker.start()
    status = int(worker.exitcode or 0)
    if _stopped_cold.is_set():
        # What still runs goes back to the broker: the engines' exit handlers must not report
        # it cancelled. The process ends here, and with it the threads that still run.
        logging.shutdown()
        os._exit(status or 1)
    return status


def _bound_warm_shutdown(timeout: float, served: Callable[[], list[BrokerEngine]]) -> None:
    """Celery's warm shutdown waits for running tasks without end: after ``timeout``, turn
    it cold. The tasks still running are not acknowledged, so the broker delivers them again."""
    from celery.signals import worker_ready, worker_shutting_down

    # The signal handler writes a byte; nothing that takes a lock: a second SIGTERM can
    # interrupt the first handler, and a lock held there would never be released.
    read_end, write_end = os.pipe()

    def watch() -> None:
        os.read(read_end, 1)
        if not _finished.wait(timeout) and any(engine.executor.running for engine in served()):
            logger.warning(
                "tasks still ran %gs after the stop signal: stopping cold; the broker delivers them again",
                timeout,
                extra={"task_id": None},
            )
            _stopped_cold.set()
            os.kill(os.getpid(), signal.SIGQUIT)

    # Started now, not from the signal handler, where starting a thread is not safe.
    threading.Thread(target=watch, name="tasq-shutdown-timeout", daemon=True).start()

    def stopping(sender: Any = None, how: str = "", **named: Any) -> None:
        if how == "Warm":
            os.write(write_end, b"!")  # again on a second SIGTERM (systemd signals the whole group): no matter

    worker_shutting_down.connect(stopping, weak=False)

    def ready(sender: Any = None, **named: Any) -> None:
        # A signal only sets a flag that Celery's event loop reads when it wakes, which on an
        # idle RabbitMQ connection is the next heartbeat (a minute): wake it every second.
        hub = getattr(sender, "hub", None)
        if hub is not None:
            hub.call_repeatedly(1.0, _awake)

    worker_ready.connect(ready, weak=False)


def _awake() -> None:
    pass


_finished = threading.Event()  # the pool's threads have all ended
_stopped_cold = threading.Event()
