"""The contract suite's engines: the thread engine, Dramatiq's in-memory broker with its
worker in this process, and real Redis / RabbitMQ with a ``tasq worker`` subprocess, on
Dramatiq and on Celery."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tasq import TasQ
from tests.backends.recording import EventLog, Events
from tests.services import RABBITMQ_URL, REDIS_URL, require

ROOT = Path(__file__).resolve().parents[2]
KINDS = ["thread", "store", "stub", "redis", "rabbitmq", "celery-redis", "celery-rabbitmq"]
# What each backend's worker logs once it consumes.
READY = {"dramatiq": "ready for action", "celery": " ready."}
# The name the worker's engine has too (it reports these tasks), and so the queue: one per
# test session, so that two sessions on one machine share neither tasks nor keys.
ENGINE = f"contract-{uuid.uuid4().hex[:8]}"


def tasq_command() -> list[str]:
    script = Path(sys.executable).with_name("tasq")  # the console script pip installed
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "tasq.cli"]


class WorkerProcess:
    """``tasq worker tests.backends.worker_app`` (or ``module``) in its own session, logging to a file."""

    def __init__(
        self,
        url: str,
        directory: Path,
        engine: str = ENGINE,
        threads: int = 4,
        module: str = "tests.backends.worker_app",
        backend: str = "dramatiq",
        shutdown_timeout: float = 15,
    ) -> None:
        self.backend = backend
        directory.mkdir(parents=True, exist_ok=True)
        self.events = Events(directory / "events.jsonl")
        self.log_path = directory / f"worker-{uuid.uuid4().hex[:8]}.log"
        env = dict(
            os.environ,
            TASQ_BROKER_URL=url,
            TASQ_TEST_EVENTS=str(self.events.path),
            TASQ_TEST_ENGINE=engine,
            TASQ_BACKEND=backend,  # the engine the app module makes
            dramatiq_worker_timeout="100",  # an idle worker looks for messages every 0.1 s
        )
        command = [*tasq_command(), "worker", module, "--backend", backend, "-p", "1", "-t", str(threads)]
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                [*command, "--shutdown-timeout", str(shutdown_timeout)],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while READY[self.backend] not in self.log():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"tasq worker did not start:\n{self.log()[-3000:]}")
            time.sleep(0.05)

    def terminate(self, group: bool = False) -> None:
        if self.process.poll() is None:
            if group:
                os.killpg(self.process.pid, signal.SIGTERM)
            else:
                self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 30.0, group: bool = False) -> int:
        self.terminate(group)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"tasq worker ignored SIGTERM for {timeout}s:\n{self.log()[-3000:]}")

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


def clean_redis(*engines: str) -> None:
    """Delete the keys of these engines (in db 15, the tests' own), and nothing else."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for engine in engines:
        keys = [*client.scan_iter(f"tasq:{engine}:*"), *client.scan_iter(f"dramatiq:tasq.{engine}*")]
        keys += client.scan_iter(f"celery.tasq.{engine}*")  # Celery's queue, one list per priority level
        if keys:
            client.delete(*keys)
    client.close()


def clean_rabbitmq(*engines: str) -> None:
    """Delete the queues of these engines."""
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    broker = RabbitmqBroker(url=RABBITMQ_URL)
    for engine in engines:
        for queue in (f"tasq.{engine}", f"tasq.{engine}.DQ", f"tasq.{engine}.XQ", f"celery.tasq.{engine}"):
            broker.channel.queue_delete(queue)
    broker.close()


def session_worker(factory: pytest.TempPathFactory, backend: str, broker: str) -> Iterator[WorkerProcess]:
    require("Redis" if broker == "redis" else "RabbitMQ")
    url = REDIS_URL if broker == "redis" else RABBITMQ_URL
    worker = WorkerProcess(url, factory.mktemp(f"{backend}-{broker}-worker"), backend=backend)
    worker.wait_ready()
    yield worker
    worker.stop()
    (clean_redis if broker == "redis" else clean_rabbitmq)(ENGINE)


@pytest.fixture(scope="session")
def redis_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    yield from session_worker(tmp_path_factory, "dramatiq", "redis")


@pytest.fixture(scope="session")
def rabbitmq_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    yield from session_worker(tmp_path_factory, "dramatiq", "rabbitmq")


@pytest.fixture(scope="session")
def celery_redis_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    yield from session_worker(tmp_path_factory, "celery", "redis")


@pytest.fixture(scope="session")
def celery_rabbitmq_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    yield from session_worker(tmp_path_factory, "celery", "rabbitmq")


@dataclass
class Harness:
    """One engine kind: ``make(**options)`` gives a started engine, ``events`` what was reported."""

    kind: str  # one of KINDS
    events: Events
    worker: WorkerProcess | None
    url: str | None  # the broker's, or the store's
    engines: list[TasQ] = field(default_factory=list)

    @property
    def backend(self) -> str:
        return "celery" if self.kind.startswith("celery") else "dramatiq"

    @property
    def broker(self) -> str:
        """redis, rabbitmq, store, or memory (the thread engine and Dramatiq's in-memory broker)."""
        if self.kind == "store":
            return "store"
        return self.kind.removeprefix("celery-") if self.worker is not None else "memory"

    @property
    def remote(self) -> bool:
        return self.worker is not None

    def make(self, **options: object) -> TasQ:
        log = EventLog(self.events.path)
        if self.kind == "thread":
            engine = TasQ(name=ENGINE, on_done=log.on_done, on_failed=log.on_failed, **options)  # type: ignore[arg-type]
        elif self.kind == "store":  # an SQLite file in the test's directory; workers in this process
            engine = TasQ(
                name=ENGINE,
                store=self.url,
                store_poll=0.05,
                on_done=log.on_done,
                on_failed=log.on_failed,
                **options,  # type: ignore[arg-type]
            )
        elif self.kind == "stub":
            engine = TasQ(
                backend="dramatiq",
                broker_url="stub://",
                name=ENGINE,
                on_done=log.on_done,
                on_failed=log.on_failed,
                **options,  # type: ignore[arg-type]
            )
        else:  # the worker's engine reports; this one only sends (and logs what it enqueued)
            engine = TasQ(backend=self.backend, broker_url=self.url, name=ENGINE, **options)  # type: ignore[arg-type]
        engine.add_hooks(log)
        engine.start()
        self.engines.append(engine)
        return engine

    def key(self) -> str:
        """A key no other test uses, for tasks that count their attempts in the worker."""
        return f"{self.kind}-{uuid.uuid4().hex}"


@pytest.fixture(params=KINDS)
def contract(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    kind: str = request.param
    if kind not in ("thread", "store", "stub"):
        worker: WorkerProcess = request.getfixturevalue(f"{kind.replace('-', '_')}_worker")
        harness = Harness(kind, worker.events, worker, REDIS_URL if kind.endswith("redis") else RABBITMQ_URL)
    elif kind == "store":
        harness = Harness(kind, Events(tmp_path / "events.jsonl"), None, f"sqlite:///{tmp_path / 'contract.db'}")
    else:
        harness = Harness(kind, Events(tmp_path / "events.jsonl"), None, None)
    yield harness
    for engine in harness.engines:
        engine.close(timeout=10)


