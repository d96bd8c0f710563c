"""What a distributed backend implements: how to reach its broker, send, and run workers.

A backend (``dramatiq.py``) subclasses ``tasq.backends.base.BrokerEngine`` and implements the
methods marked abstract here; everything else of the engine is ``BrokerEngine``'s.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from ..engine import TasQ
from ..options import EngineOptions
from ..task import TaskOptions
from .ledger import Ledger
from .payload import TaskMessage

__all__ = ["BrokerSurface", "WorkerOptions"]


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerOptions:
    """What ``tasq worker`` was asked for."""

    modules: tuple[str, ...]
    broker_url: str | None  # None: the one the engines made by those modules use
    processes: int
    threads: int
    shutdown_timeout: float  # seconds a graceful stop waits for running tasks
    names: tuple[str, ...] = ()  # the engines whose tasks to run; () = those the modules make
    paths: tuple[str, ...] = (".",)
    verbose: int = 0


class BrokerSurface(TasQ, ABC):
    """The methods a backend implements (the rest of a broker engine is ``BrokerEngine``)."""

    __slots__ = ()

    # The name TasQ(backend=...) and `tasq worker --backend` select.
    backend_name: ClassVar[str]

    @classmethod
    def refused_options(cls, options: EngineOptions) -> list[tuple[str, Exception]]:
        refused: list[tuple[str, Exception]] = []
        backend = options.backend
        if backend != cls.backend_name:
            refused.append(("backend", ValueError(f"{cls.__name__} is backend {cls.backend_name!r}, not {backend!r}")))
        if options.queue_size:
            error = ValueError(
                f"queue_size bounds the thread engine's own queue; with backend={backend!r} the broker "
                "holds pending tasks: leave queue_size at 0"
            )
            refused.append(("queue_size", error))
        if options.store is not None:
            error = ValueError(f"backend={backend!r} keeps tasks in its broker: leave store unset")
            refused.append(("store", error))
        url = options.broker_url if options.broker_url is not None else os.environ.get("TASQ_BROKER_URL")
        if not url:
            error = ValueError(
                f"backend={backend!r} needs broker_url=, e.g. 'redis://localhost:6379/0' or "
                "'amqp://guest:guest@localhost:5672/' (or the TASQ_BROKER_URL environment variable)"
            )
            refused.append(("broker_url", error))
        else:
            try:
                cls.check_broker_url(url)
            except ValueError as bad_url:
                refused.append(("broker_url", bad_url))
        return refused

    @classmethod
    @abstractmethod
    def check_broker_url(cls, url: str) -> bool:
        """Refuse a URL this backend cannot use (ValueError); True: a broker in this process only."""

    @abstractmethod
    def _connect(self) -> Ledger:
        """Make the broker client (once, at the first task: never at configuration time)."""

    @abstractmethod
    def _send(
        self, message: TaskMessage, fn: Callable[..., object], options: TaskOptions, delay: float, priority: int
    ) -> None:
        """Hand one message to the broker; raise if it did not take it."""

    @abstractmethod
    def _disconnect(self, close: bool) -> None:
        """Drop the broker client; ``close`` is False in a forked child (the sockets are the parent's)."""

    def _start_workers(self) -> None:
        """An in-process broker only: start worker threads here."""
        raise NotImplementedError

    def _stop_workers(self, timeout: float | None) -> None:
        """An in-process broker only: stop the worker threads once the running tasks end."""
        raise NotImplementedError

    def _worker_threads(self) -> int:
        return 0

    @classmethod
    @abstractmethod
    def serve(cls, options: WorkerOptions) -> int:
        """Run worker processes until SIGTERM or SIGINT (``tasq worker``); the exit status."""
