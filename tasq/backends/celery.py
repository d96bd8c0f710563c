"""``TasQ(backend="celery", broker_url=...)``: the same tasks on Celery workers.

TasQ builds the Celery app itself; the user writes none. Every ``@background`` call is
one message for one generic Celery task, ``tasq.run``, whose arguments are the function's
``module.qualname``, its JSON arguments and TasQ's header (id, attempt, max_retry, ...);
the Celery task id is ``<engine>.<id>``. In the worker, ``tasq.run`` finds the function by
name and runs the attempt through the engine's executor: ``begin`` → ``run`` → ``settle``.
``RetryTask`` becomes Celery's own ``Task.retry`` with the next attempt in the header and
the countdown TasQ chose; any other error fails the task at once. Celery's result backend
stays off: the ledger (Redis) is the result store.

The settings that make delivery safe, each for a pitfall Celery documents:

- ``task_acks_late``: a message is acknowledged after its task ran, not when a worker
  took it, so a worker that dies mid-task leaves it with the broker, which delivers it
  again (RabbitMQ when the connection drops; Redis once ``visibility_timeout`` passed).
  The ledger then skips a task that had finished: it is reported once.
- ``task_reject_on_worker_lost``: where Celery sees a worker die under a task, it
  requeues the message instead of acknowledging it as failed.
- ``worker_prefetch_multiplier=1``: a worker holds no more messages than it has threads,
  so a busy or dying worker strands none that another could run.
- Redis ``visibility_timeout`` (default 3600 s, ``?visibility_timeout=N`` on the broker
  URL): an unacknowledged message goes to another worker after it, so it must exceed the
  longest task, the shutdown timeout and any delay (a longer delay is refused).
- RabbitMQ ``confirm_publish``: ``enqueue`` returns once RabbitMQ holds the message.
- Warm shutdown on SIGTERM (Celery's own): no new message is taken, running tasks
  finish, the messages not started go back to the broker. After ``--shutdown-timeout``
  the stop turns cold (Celery's SIGQUIT): what still runs is delivered again.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, wait
from dataclasses import asdict, replace
from queue import SimpleQueue
from types import FrameType
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from celery import Celery
from celery.concurrency.base import BasePool, apply_target
from celery.exceptions import Reject
from kombu.entity import Queue

from ..exceptions import TasQClosed
from ..task import TaskOptions
from .base import BrokerEngine, WorkerOptions, redact
from .ledger import Ledger, NullLedger, RedisLedger
from .payload import TaskMessage
from .worker import WorkerApp, load_app

__all__ = ["CeleryEngine", "ThreadPool", "make_app"]

logger = logging.getLogger("tasq")

RUNNER = "tasq.run"  # the one Celery task: it runs any TasQ message by its function's name
_REDIS = ("redis", "rediss")
_RABBITMQ = ("amqp", "amqps")
VISIBILITY_TIMEOUT = 3600.0  # Celery's own default for Redis
_LEVELS = 10  # priority levels: RabbitMQ's x-max-priority 9, Redis lists 0..9
_WORKER_SETTINGS = "TASQ_CELERY_WORKER"  # how a supervisor tells its worker processes what to run
LOG_FORMAT = "[%(asctime)s] [PID %(process)d] [%(threadName)s] [%(name)s] [%(levelname)s] %(message)s"


def queue_name(engine: str) -> str:
    """The Celery queue of an engine's tasks: ``celery.tasq.<engine name>`` (Dramatiq's
    ``tasq.<name>`` queues on the same RabbitMQ are declared with other arguments)."""
    return "celery.tasq." + "".join(c if c.isalnum() or c in "._-" else "_" for c in engine)


def broker_settings(url: str) -> tuple[str, float]:
    """The URL Celery and Redis are given, and the visibility timeout taken out of it."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    given = [value for key, value in query if key == "visibility_timeout"]
    timeout = VISIBILITY_TIMEOUT
    if given:
        if parts.scheme not in _REDIS:
            raise ValueError(
                "visibility_timeout is a Redis setting: RabbitMQ redelivers once a worker's connection drops"
            )
        try:
            timeout = float(given[-1])
        except ValueError:
            timeout = math.nan
        if not math.isfinite(timeout) or timeout <= 0:
            raise ValueError(f"visibility_timeout must be a number of seconds > 0, not {given[-1]!r}")
    rest = urlencode([(key, value) for key, value in query if key != "visibility_timeout"])
    return urlunsplit(parts._replace(query=rest)), timeout


class CeleryEngine(BrokerEngine):
    """Sends tasks to Celery workers over Redis or RabbitMQ."""

    backend_name: ClassVar[str] = "celery"

    _app: Celery | None = None
    _redis: Any = None
    _visibility_timeout: float = VISIBILITY_TIMEOUT

    @property
    def queue(self) -> str:
        return queue_name(self.name)

    @classmethod
    def check_broker_url(cls, url: str) -> bool:
        scheme = urlsplit(url).scheme
        if scheme not in _REDIS and scheme not in _RABBITMQ:
            raise ValueError(
                "backend='celery' speaks redis://, rediss://, amqp:// and amqps:// "
                f"(for tests without a broker: eager=True), not {redact(url)!r}"
            )
        broker_settings(url)
        return False

    def _connect(self) -> Ledger:
        url, self._visibility_timeout = broker_settings(self.broker_url)
        self._app = make_app(self.broker_url, [self.name])
        if urlsplit(url).scheme in _REDIS:
            import redis

            self._redis = redis.Redis.from_url(url)
            return RedisLedger(self._redis)
        return NullLedger()

    def _send(
        self, message: TaskMessage, fn: Callable[..., object], options: TaskOptions, delay: float, priority: int
    ) -> None:
        app = self._app
        if app is None:  # close() released it meanwhile
            raise TasQClosed(f"engine {self.name!r} is closed")
        if delay and self._redis is not None and delay >= self._visibility_timeout:
            # Celery's worker holds a delayed message unacknowledged until it is due: past the
            # visibility timeout, Redis hands it to a second worker, and it would run twice.
            raise ValueError(
                f"delay {delay:.0f}s is not below the Redis visibility_timeout ({self._visibility_timeout:.0f}s): "
                "raise it on the broker URL (?visibility_timeout=...) or schedule the task later"
            )
        app.send_task(
            RUNNER,
            args=(message.name, message.args, message.kwargs, message.header()),
            task_id=f"{message.engine}.{message.id}",
            queue=self.queue,
            countdown=delay or None,
            priority=_level(priority, redis=self._redis is not None),
        )

    def _disconnect(self, close: bool) -> None:
        app, client, self._app, self._redis = self._app, self._redis, None, None
        if close:
            if app is not None:
                app.close()
            if client is not None:
                client.close()

    @classmethod
    def serve(cls, options: WorkerOptions) -> int:
        """``tasq worker``: one Celery worker (threads pool) per process."""
        if options.broker_url is not None:
            cls.check_broker_url(options.broker_url)
            _check_visibility(options.broker_url, options.shutdown_timeout)
        if options.processes == 1:
            return run_worker(options)
        return _supervise(options)


def _level(priority: int, redis: bool) -> int:
    """TasQ's priority (-100..100, higher first) as one of Celery's ten levels."""
    level = round((priority + 100) * (_LEVELS - 1) / 200)
    return _LEVELS - 1 - level if redis else level  # Redis takes level 0 first, RabbitMQ level 9


def _check_visibility(url: str, shutdown_timeout: float) -> None:
    _, timeout = broker_settings(url)
    if urlsplit(url).scheme in _REDIS and timeout <= shutdown_timeout:
        raise ValueError(
            f"the Redis visibility_timeout ({timeout:g}s) must exceed --shutdown-timeout ({shutdown_timeout:g}s): "
            "a task still finishing in a stopping worker would be handed to another one"
        )


def make_app(broker_url: str, engines: list[str]) -> Celery:
    """The Celery app TasQ's engines send through and its workers consume with."""
    url, visibility_timeout = broker_settings(broker_url)
    redis = urlsplit(url).scheme in _REDIS
    app = Celery("tasq", broker=url, set_as_current=False, fixups=[])  # no Django fixup: TasQ's hooks do that
    transport: dict[str, Any]
    if redis:
        transport = {
            "visibility_timeout": visibility_timeout,
            # A dead worker's messages come back once the timeout passed, at the next sweep of
            # the unacknowledged ones: every few seconds, not kombu's default of every 100.
            "unacked_restore_interval": max(1.0, min(10.0, visibility_timeout / 3)),
            "unacked_restore_throttle": 1,
            "priority_steps": list(range(_LEVELS)),
            "queue_order_strategy": "priority",
        }
    else:
        transport = {"confirm_publish": True}
    # RabbitMQ orders a queue by priority only when it was declared with x-max-priority.
    arguments = None if redis else {"x-max-priority": _LEVELS - 1}
    queues = [
        Queue(queue_name(name), routing_key=queue_name(name), queue_arguments=arguments)  # type: ignore[no-untyped-call]
        for name in engines
    ]
    app.conf.update(
        broker_transport_options=transport,
        broker_connection_retry_on_startup=True,
        task_queues=queues,
        task_default_queue=queues[0].name,
        task_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,  # the ledger keeps results
        result_backend=None,
        worker_send_task_events=False,
        task_send_sent_event=False,
        worker_log_format=LOG_FORMAT,
        worker_task_log_format=LOG_FORMAT,
        worker_redirect_stdouts=False,
        worker_soft_shutdown_timeout=0.0,
    )
    return app


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
            retry = task.retry(args=(name, args, kwargs, following.header()), kwargs={}, countdown=delay, throw=False)
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
        logger.critical("tasq worker: %s", error, exc_info=error)
        return 2
    except SystemExit as exited:
        return int(exited.code or 0)
    _check_visibility(app.broker_url, options.shutdown_timeout)
    celery = make_app(app.broker_url, app.names)
    url, _ = broker_settings(app.broker_url)
    ledger: Ledger = NullLedger()
    if urlsplit(url).scheme in _REDIS:
        import redis

        ledger = RedisLedger(redis.Redis.from_url(url))
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
    logger.info(
        "tasq worker on %s, queues %s: %d @background function(s): %s",
        redact(app.broker_url),
        ", ".join(queue_name(name) for name in app.names),
        len(app.functions),
        ", ".join(sorted(app.functions)) or "none (name the modules that define them)",
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
                "tasks still ran %gs after the stop signal: stopping cold; the broker delivers them again", timeout
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


def _supervise(options: WorkerOptions) -> int:
    """``--processes N``: N worker processes; a stop signal goes to each; the first to end
    unasked ends the others, and its status is the command's."""
    settings = json.dumps(asdict(replace(options, processes=1)))
    command = [sys.executable, "-c", "import sys; from tasq.backends.celery import run_child; sys.exit(run_child())"]
    children = [
        subprocess.Popen(command, env={**os.environ, _WORKER_SETTINGS: settings}) for _ in range(options.processes)
    ]
    stopping = threading.Event()

    def forward(signum: int, frame: FrameType | None) -> None:
        stopping.set()
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        signal.signal(signum, forward)
    status = 0
    while any(child.poll() is None for child in children):
        for child in children:
            code = child.poll()
            if code is not None and not stopping.is_set():
                status = code or 1
                forward(signal.SIGTERM, None)
        time.sleep(0.2)
    for child in children:
        status = status or abs(child.wait())
    return status


def run_child() -> int:
    """A worker process a supervisor started."""
    settings = json.loads(os.environ.pop(_WORKER_SETTINGS))
    for key in ("modules", "names", "paths"):
        settings[key] = tuple(settings[key])
    return run_worker(WorkerOptions(**settings))
