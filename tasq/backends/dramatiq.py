"""``TasQ(backend="dramatiq", broker_url=...)``: the same tasks on Dramatiq workers.

Each ``@background`` function is a Dramatiq actor named by its full ``module.qualname``;
every message carries TasQ's header (id, attempt, max_retry, ...) among its options. One
middleware, ``ExecutorMiddleware``, does TasQ's part in the worker: it begins each attempt,
settles it (``RetryTask`` becomes a delayed re-enqueue; any other error fails the message
at once, to Dramatiq's dead-letter queue) and reports it through the engine's hooks and
callbacks. Dramatiq's own ``Retries`` (20 retries of any error) and ``TimeLimit`` (10
minutes) middleware are left out: a task here behaves as it does in the thread engine.

``redis://`` and ``amqp://`` brokers are served by ``tasq worker``; ``stub://`` is
Dramatiq's in-memory broker, whose workers run in the engine's own process (for tests).
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from types import FrameType
from typing import Any, ClassVar
from urllib.parse import urlsplit

import dramatiq
from dramatiq.actor import Actor
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Middleware, SkipMessage

from ..exceptions import TasQClosed
from ..periodic.claims import RedisSlotClaim, SlotClaim
from ..task import TaskOptions
from . import redis_url
from .base import BrokerEngine, WorkerOptions, redact
from .ledger import Ledger, LocalLedger, NullLedger
from .payload import HEADER, TaskMessage
from .redis_ledger import RedisLedger
from .worker import load_app

__all__ = ["DramatiqEngine", "ExecutorMiddleware", "boot_worker"]

logger = logging.getLogger("tasq")

_REDIS = redis_url.SCHEMES  # TCP and Unix socket
_RABBITMQ = ("amqp", "amqps")
_STUB = "stub"
_WORKER_SETTINGS = "TASQ_DRAMATIQ_WORKER"  # how `tasq worker` tells its worker processes what to load


def queue_name(engine: str) -> str:
    """The Dramatiq queue of an engine's tasks: ``tasq.<engine name>``."""
    return "tasq." + re.sub(r"[^a-zA-Z0-9._-]", "_", engine)


class DramatiqEngine(BrokerEngine):
    """Sends tasks to Dramatiq workers over Redis or RabbitMQ (or its in-memory broker)."""

    backend_name: ClassVar[str] = "dramatiq"

    _broker: dramatiq.Broker | None = None
    _middleware: ExecutorMiddleware | None = None
    _worker: dramatiq.Worker | None = None

    @property
    def queue(self) -> str:
        return queue_name(self.name)

    @classmethod
    def check_broker_url(cls, url: str) -> bool:
        scheme = urlsplit(url).scheme
        if scheme in _REDIS or scheme in _RABBITMQ:
            redis_url.check(url)
            return False
        if scheme == _STUB:
            return True
        raise ValueError(
            "backend='dramatiq' speaks redis://, rediss://, unix://, redis+socket://, amqp:// and amqps:// "
            f"(and stub:// for an in-process test broker), not {redact(url)!r}"
        )

    def slot_claim(self) -> SlotClaim | None:
        """Periodic slots are claimed in the broker's Redis; over RabbitMQ, by a file lock per machine."""
        if urlsplit(self.broker_url).scheme not in _REDIS:
            return None
        import redis

        return RedisSlotClaim(redis.Redis.from_url(redis_url.for_redis_py(self.broker_url)))

    def _connect(self) -> Ledger:
        broker, middleware = make_broker(self.broker_url, self._local, lambda name: self, lambda: [self])
        broker.declare_queue(self.queue)
        self._broker, self._middleware = broker, middleware
        return middleware.ledger

    def _send(
        self, message: TaskMessage, fn: Callable[..., object], options: TaskOptions, delay: float, priority: int
    ) -> None:
        broker, middleware = self._broker, self._middleware
        if broker is None or middleware is None:  # close() released it meanwhile
            raise TasQClosed(f"engine {self.name!r} is closed")
        middleware.declare(broker, message.name, fn, options, self.queue)
        broker.enqueue(
            dramatiq.Message(
                queue_name=self.queue,
                actor_name=message.name,
                args=tuple(message.args),
                kwargs=message.kwargs,
                options={HEADER: message.header()},
            ),
            delay=round(delay * 1000) if delay > 0 else None,
        )

    def _disconnect(self, close: bool) -> None:
        broker, self._broker, self._middleware, self._worker = self._broker, None, None, None
        if close and broker is not None:
            broker.close()
            client = getattr(broker, "client", None)  # Redis: Dramatiq leaves its pool open
            if client is not None:
                client.connection_pool.disconnect()

    def _start_workers(self) -> None:
        broker = self._broker
        if broker is None:
            raise TasQClosed(f"engine {self.name!r} is closed")
        # worker_timeout: how long an idle worker thread waits before it looks at its stop flag.
        self._worker = dramatiq.Worker(broker, worker_threads=self.workers, worker_timeout=100)
        self._worker.start()

    def _stop_workers(self, timeout: float | None) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop(timeout=600_000 if timeout is None else max(1, round(timeout * 1000)))

    def _worker_threads(self) -> int:
        worker = self._worker
        return 0 if worker is None else sum(1 for thread in worker.workers if thread.is_alive())

    @classmethod
    def serve(cls, options: WorkerOptions) -> int:
        """``tasq worker``: Dramatiq's own process supervisor, with TasQ's broker set-up."""
        from dramatiq.cli import main, make_argument_parser

        if options.broker_url is not None and cls.check_broker_url(options.broker_url):
            raise ValueError("stub:// is an in-process broker: a worker process cannot reach it")
        settings = {"modules": options.modules, "broker_url": options.broker_url, "names": options.names}
        os.environ[_WORKER_SETTINGS] = json.dumps(settings)
        argv = [f"{__name__}:boot_worker", *options.modules]
        argv += ["--processes", str(options.processes), "--threads", str(options.threads)]
        argv += ["--worker-shutdown-timeout", str(max(1, round(options.shutdown_timeout * 1000)))]
        argv += ["-v"] * min(options.verbose, 1)
        argv += ["--path", *options.paths]
        return int(main(make_argument_parser().parse_args(argv)))  # type: ignore[no-untyped-call]


class ExecutorMiddleware(Middleware):
    """TasQ's part of every message a Dramatiq worker handles: one attempt, one outcome."""

    def __init__(
        self, resolve: Callable[[str], BrokerEngine], served: Callable[[], list[BrokerEngine]], ledger: Ledger
    ) -> None:
        self.resolve = resolve  # engine name -> the engine that reports its tasks here
        self.served = served
        self.ledger = ledger
        self.options: dict[str, TaskOptions] = {}  # actor name -> the function's options
        self._current = threading.local()
        self._declaring = threading.Lock()

    def declare(
        self, broker: dramatiq.Broker, name: str, fn: Callable[..., object], options: TaskOptions, queue: str
    ) -> None:
        """Register ``fn`` as the actor ``name``; a newer definition (a reload) replaces the old."""
        actor = broker.actors.get(name)
        if actor is not None and getattr(actor.fn, "__wrapped__", None) is fn:
            return
        with self._declaring:
            actor = broker.actors.get(name)
            self.options[name] = options
            if actor is None:
                Actor(
                    self._runner(fn),
                    broker=broker,
                    actor_name=name,
                    queue_name=queue,
                    priority=-options.priority,  # Dramatiq runs lower numbers first
                    # Every error is TasQ's to report: Dramatiq logs it at INFO, not ERROR.
                    options={"throws": (BaseException,)},
                )
            elif getattr(actor.fn, "__wrapped__", None) is not fn:
                actor.fn = self._runner(fn)

    def _runner(self, fn: Callable[..., object]) -> Callable[..., object]:
        current = self._current

        def run(*args: Any, **kwargs: Any) -> None:
            attempt = getattr(current, "attempt", None)
            if attempt is None:  # the actor called directly, not by a worker
                fn(*args, **kwargs)
                return
            attempt[1].executor.run(attempt[0], fn, args, kwargs)
            # The value stays with TasQ: Dramatiq would warn that it has nowhere to go.

        run.__wrapped__ = fn  # type: ignore[attr-defined]
        run.__module__ = getattr(fn, "__module__", None) or "_"
        run.__qualname__ = run.__name__ = getattr(fn, "__qualname__", "task")
        return run

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        """Begin the attempt, or skip a delivery of a task that already finished."""
        self._current.attempt = None
        task = _read(message)
        if task is None:
            return
        engine = self.resolve(task.engine)
        attempt = engine.executor.begin(self.ledger, task, self.options.get(task.name))
        if attempt is None:
            raise SkipMessage(f"task {task.id} already finished or was cancelled")
        self._current.attempt = (attempt, engine)

    def after_process_message(
        self, broker: dramatiq.Broker, message: Any, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        """Report the outcome once, or send the next attempt after its delay."""
        current, self._current.attempt = getattr(self._current, "attempt", None), None
        if current is None:
            return
        attempt, engine = current
        delay = engine.executor.settle(attempt, exception)
        if delay is None:
            if attempt.failure is not None:
                self._current.reported = message.message_id
                message.fail()  # to the dead-letter queue, as Dramatiq does with a failure
            return
        header = dict(message.options[HEADER], attempt=attempt.message.attempt + 1)
        try:
            broker.enqueue(message.copy(options={HEADER: header}), delay=round(delay * 1000) or None)
        except Exception as error:  # noqa: BLE001 - the broker refused the retry: the task fails
            self._current.reported = message.message_id
            engine.executor.fail(self.ledger, replace(attempt.message, attempt=header["attempt"]), error)
            message.fail()

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        self._current.attempt = None

    def after_nack(self, broker: dramatiq.Broker, message: Any) -> None:
        """A message rejected before it ran (no function of that name here): report it."""
        if getattr(self._current, "reported", None) == message.message_id:
            self._current.reported = None
            return
        task = _read(message)
        if task is not None:
            error = LookupError(
                f"this worker has no @background function named {task.name!r}: "
                "start it with the module that defines it (tasq worker myapp.tasks)"
            )
            self.resolve(task.engine).executor.fail(self.ledger, task, error)

    def after_worker_thread_boot(self, broker: dramatiq.Broker, thread: Any) -> None:
        for engine in self.served():
            engine.executor.thread_started()

    def before_worker_thread_shutdown(self, broker: dramatiq.Broker, thread: Any) -> None:
        for engine in self.served():
            engine.executor.thread_stopped()


def make_broker(
    url: str,
    local: LocalLedger,
    resolve: Callable[[str], BrokerEngine],
    served: Callable[[], list[BrokerEngine]],
) -> tuple[dramatiq.Broker, ExecutorMiddleware]:
    """The Dramatiq broker for ``url``, with TasQ's middleware and the ledger that goes with it."""
    middleware = ExecutorMiddleware(resolve, served, local)
    scheme = urlsplit(url).scheme
    broker: dramatiq.Broker
    if scheme == _STUB:
        broker = StubBroker(middleware=[middleware])
    elif scheme in _REDIS:
        from dramatiq.brokers.redis import RedisBroker

        broker = RedisBroker(url=redis_url.for_redis_py(url), middleware=[middleware])  # type: ignore[no-untyped-call]
        middleware.ledger = RedisLedger(broker.client)
    else:
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        # Confirmed publishing: enqueue returns once RabbitMQ has the message.
        broker = RabbitmqBroker(url=url, confirm_delivery=True, middleware=[middleware])
        middleware.ledger = NullLedger()
    return broker, middleware


def boot_worker() -> None:
    """Run by Dramatiq's CLI in each worker process: load the app, then the broker serving it."""
    settings = json.loads(os.environ[_WORKER_SETTINGS])
    _coalesce_stop_signals()
    # An ImportError: Dramatiq logs it and exits with status 2.
    app = load_app(DramatiqEngine, settings["modules"], settings["broker_url"], settings.get("names") or ())
    broker, middleware = make_broker(app.broker_url, LocalLedger(0), app.resolve, app.served)
    queues = [queue_name(name) for name in app.names]
    for queue in queues:
        broker.declare_queue(queue)
    for name, function in sorted(app.functions.items()):
        middleware.declare(broker, name, function.fn, function.options, queues[0])
    dramatiq.set_broker(broker)
    app.start_served()
    logger.info(
        "tasq worker on %s, queues %s: %d @background function(s): %s",
        redact(app.broker_url),
        ", ".join(queues),
        len(app.functions),
        ", ".join(sorted(app.functions)) or "none (name the modules that define them)",
        extra={"task_id": None},
    )


def _coalesce_stop_signals() -> None:
    """One stop request, even when it arrives twice.

    systemd (KillMode=control-group, its default) and ``kill -- -PGID`` signal every process
    at once: a worker gets SIGTERM from them and again from Dramatiq's supervisor, and
    Dramatiq takes a second signal as "exit now", dropping the tasks it runs. A repeat
    within a second is the same request; a later one still means "now".
    """
    stop = signal.getsignal(signal.SIGTERM)
    if not callable(stop):
        return
    first: list[float] = []

    def on_term(signum: int, frame: FrameType | None) -> None:
        now = time.monotonic()
        if first and now - first[0] < 1.0:
            return
        first[:1] = [now]
        stop(signum, frame)

    signal.signal(signal.SIGTERM, on_term)


def _read(message: Any) -> TaskMessage | None:
    return TaskMessage.read(message.actor_name, message.args, message.kwargs, message.options.get(HEADER))
