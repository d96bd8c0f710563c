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

This module is what a web process needs (the engine and the app's configuration);
``celery_worker.py`` is the worker process's side.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit

from celery import Celery
from kombu.entity import Queue

from ..exceptions import TasQClosed
from ..task import TaskOptions
from . import redis_url
from .base import BrokerEngine, WorkerOptions, redact
from .block_ledger import BlockLedger
from .celery_transport import SocketTransport, Transport, carrying, socket_broker_url
from .ledger import Ledger, NullLedger
from .payload import TaskMessage
from .supervisor import supervise

__all__ = ["CeleryEngine", "make_app"]

logger = logging.getLogger("tasq")

RUNNER = "tasq.run"  # the one Celery task: it runs any TasQ message by its function's name
REDIS_SCHEMES = redis_url.SCHEMES  # TCP and Unix socket
_RABBITMQ = ("amqp", "amqps")
VISIBILITY_TIMEOUT = 3600.0  # Celery's own default for Redis
REPR_SIZE = 1024  # Celery's own bound on argsrepr and kwargsrepr
_LEVELS = 10  # priority levels: RabbitMQ's x-max-priority 9, Redis lists 0..9
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
        if parts.scheme not in REDIS_SCHEMES:
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
    return url.partition("?")[0] + (f"?{rest}" if rest else ""), timeout  # as given: unix:/// keeps its ///


class CeleryEngine(BrokerEngine):
    """Sends tasks to Celery workers over Redis or RabbitMQ."""

    backend_name: ClassVar[str] = "celery"

    _app: Celery | None = None
    _redis: Any = None
    _carries = False  # our transport publishes: each task's record rides with its push
    _visibility_timeout: float = VISIBILITY_TIMEOUT

    @property
    def queue(self) -> str:
        return queue_name(self.name)

    @classmethod
    def check_broker_url(cls, url: str) -> bool:
        scheme = urlsplit(url).scheme
        if scheme not in REDIS_SCHEMES and scheme not in _RABBITMQ:
            raise ValueError(
                "backend='celery' speaks redis://, rediss://, unix://, redis+socket://, amqp:// and amqps:// "
                f"(for tests without a broker: eager=True), not {redact(url)!r}"
            )
        redis_url.check(url)
        broker_settings(url)
        return False

    def _connect(self) -> Ledger:
        url, self._visibility_timeout = broker_settings(self.broker_url)
        self._app = make_app(self.broker_url, [self.name])
        if urlsplit(url).scheme in REDIS_SCHEMES:
            import redis

            self._redis = redis.Redis.from_url(redis_url.for_redis_py(url))
            self._carries = self._app.conf.broker_transport in (Transport, SocketTransport)
            return BlockLedger(self._redis)
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
        ledger = self._ledger
        if not isinstance(ledger, BlockLedger):  # RabbitMQ: no record to write
            self._publish(app, message, delay, priority)
        elif not self._carries:  # rediss://: the record, then the message
            ledger.record(message)
            self._publish(app, message, delay, priority)
        else:
            with carrying(ledger, message) as carried:  # the record rides with the push
                self._publish(app, message, delay, priority)
            if carried:  # kombu published without the channel that writes it: write it now
                ledger.record(message)
                logger.warning(
                    "task %d was published before its ledger record (a kombu path TasQ does not know): "
                    "a worker that took it at once skipped it",
                    message.id,
                    extra={"task_id": message.id},
                )

    def _publish(self, app: Celery, message: TaskMessage, delay: float, priority: int) -> None:
        app.send_task(
            RUNNER,
            args=(message.name, message.args, message.kwargs, message.header()),
            task_id=f"{message.engine}.{message.id}",
            queue=self.queue,
            countdown=delay or None,
            priority=_level(priority, redis=self._redis is not None),
            # What Celery's logs, events and Flower show: the call, not TasQ's header. Given,
            # it spares Celery's own saferepr, which costs more than the rest of the send.
            argsrepr=shown(message),
            kwargsrepr=repr(message.kwargs)[:REPR_SIZE],
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
            check_visibility(options.broker_url, options.shutdown_timeout)
        if options.processes == 1:
            from .celery_worker import run_worker

            return run_worker(options)
        return supervise(options, "tasq.backends.celery_worker:run_worker")


def shown(message: TaskMessage) -> str:
    return f"{message.name} {message.args!r}"[:REPR_SIZE]


def _level(priority: int, redis: bool) -> int:
    """TasQ's priority (-100..100, higher first) as one of Celery's ten levels."""
    level = round((priority + 100) * (_LEVELS - 1) / 200)
    return _LEVELS - 1 - level if redis else level  # Redis takes level 0 first, RabbitMQ level 9


def check_visibility(url: str, shutdown_timeout: float) -> None:
    _, timeout = broker_settings(url)
    if urlsplit(url).scheme in REDIS_SCHEMES and timeout <= shutdown_timeout:
        raise ValueError(
            f"the Redis visibility_timeout ({timeout:g}s) must exceed --shutdown-timeout ({shutdown_timeout:g}s): "
            "a task still finishing in a stopping worker would be handed to another one"
        )


def make_app(broker_url: str, engines: list[str]) -> Celery:
    """The Celery app TasQ's engines send through and its workers consume with."""
    url, visibility_timeout = broker_settings(broker_url)
    redis = urlsplit(url).scheme in REDIS_SCHEMES
    # kombu's Redis transport with each task's record in its push (rediss: kombu's own, for its TLS set-up)
    transport_class: type[Transport] | None = None
    if redis_url.is_socket(url):
        url, transport_class = socket_broker_url(url), SocketTransport
    elif urlsplit(url).scheme == "redis":
        transport_class = Transport
    app = Celery("tasq", broker=url, set_as_current=False, fixups=[])  # no Django fixup: TasQ's hooks do that
    if transport_class is not None:
        app.conf.broker_transport = transport_class
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
