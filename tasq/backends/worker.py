"""What every backend's worker process does before it runs a task: load the app.

``load_app`` imports the modules ``tasq worker`` was given, lets the integrations make
their engines, finds the broker URL, the ``@background`` functions and the engines whose
tasks to run. A backend's worker then registers the functions with its broker and serves
the queues of those engines, reporting through ``WorkerApp.resolve(name)``.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..context import resolve_engine
from ..decorators import BackgroundFunction
from .base import BrokerEngine
from .registry import collect_functions, engine_named, engines

__all__ = ["WorkerApp", "load_app"]

logger = logging.getLogger("tasq")


@dataclass
class WorkerApp:
    """The app as one worker process sees it."""

    engine_class: type[BrokerEngine]
    broker_url: str
    functions: dict[str, BackgroundFunction[..., object]]
    names: list[str]  # the engines whose tasks this worker runs
    _stand_ins: dict[str, BrokerEngine] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def resolve(self, name: str) -> BrokerEngine:
        """The engine that reports the tasks of engine ``name``: the one the app made here
        (its hooks, its callbacks), else a plain one, once, with a warning."""
        engine = engine_named(name)
        if engine is not None:
            return engine
        with self._lock:
            if name not in self._stand_ins:
                logger.warning(
                    "no engine named %r was made by the modules this worker imported: its tasks report "
                    "through a plain engine, without your app's hooks and callbacks; name the module "
                    "that makes it (tasq worker myapp.app myapp.tasks)",
                    name,
                    extra={"task_id": None},
                )
                self._stand_ins[name] = self.engine_class(name=name, broker_url=self.broker_url)
            return self._stand_ins[name]

    def served(self) -> list[BrokerEngine]:
        return [self.resolve(name) for name in self.names]

    def start_served(self) -> None:
        """Start the engines this worker serves: what runs beside one (its periodic tasks)
        starts with it, in each worker process."""
        for engine in self.served():
            if not engine.closed:
                engine.start()


def load_app(
    engine_class: type[BrokerEngine], modules: Sequence[str], broker_url: str | None, names: Sequence[str] = ()
) -> WorkerApp:
    """Import ``modules`` (an ImportError propagates) and describe what this worker serves.

    Without ``broker_url``, the one URL of the engines the modules made; none, or several:
    a CRITICAL log line and ``SystemExit(2)``.
    """
    for module in modules:
        importlib.import_module(module)
    # Django makes its engine on first use, through the resolver its app registered: ask,
    # as a @background call would (without making a default engine), so that its hooks
    # see every worker thread start.
    resolve_engine()
    made = [engine for engine in engines() if isinstance(engine, engine_class)]
    url = broker_url or _broker_url_of(engine_class, made)
    functions = collect_functions()
    served = list(names)
    if not served:
        served = [engine.name for engine in made]
        served += [fn.engine.name for fn in functions.values() if isinstance(fn.engine, engine_class)]
    return WorkerApp(engine_class, url, functions, sorted(set(served)) or ["default"])


def _broker_url_of(engine_class: type[BrokerEngine], made: list[BrokerEngine]) -> str:
    urls = sorted({engine.broker_url for engine in made})
    if len(urls) == 1 and not engine_class.check_broker_url(urls[0]):
        return urls[0]
    if urls:
        why = f"the engines use {len(urls)} brokers" if len(urls) > 1 else "its engine's broker is in-process"
    else:
        why = f"none of the modules made a {engine_class.backend_name} engine"
    logger.critical(
        "tasq worker: no broker URL (%s): pass --broker-url or set TASQ_BROKER_URL", why, extra={"task_id": None}
    )
    raise SystemExit(2)
