"""Redis over a Unix socket, for Dramatiq and Celery: ``unix:///path?db=N`` (redis-py's
spelling) and ``redis+socket:///path?virtual_host=N`` (kombu's), a web engine and a real
``tasq worker`` on a redis-server of this test's own that listens on a socket only."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tasq import TasQ
from tests.backends import tasks
from tests.backends.conftest import WorkerProcess

pytestmark = [pytest.mark.services, pytest.mark.timeout(90)]

DB = 3


@pytest.fixture(scope="module")
def socket_path() -> Iterator[Path]:
    """A redis-server listening on a Unix socket only (no TCP port), in a short tmp path
    (a socket's path is limited to about 100 bytes)."""
    server_binary = shutil.which("redis-server")
    if server_binary is None:
        pytest.skip("no redis-server on PATH to listen on a Unix socket")
    directory = Path(tempfile.mkdtemp(prefix="tasq-redis-", dir="/tmp"))
    path = directory / "redis.sock"
    command = [server_binary, "--port", "0", "--unixsocket", str(path), "--unixsocketperm", "700"]
    command += ["--save", "", "--appendonly", "no", "--dir", str(directory)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while not path.exists():
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"redis-server did not listen on {path} (exit status {server.poll()})")
            time.sleep(0.02)
        yield path
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.parametrize("backend", ["celery", "dramatiq"])
@pytest.mark.parametrize("spelling", ["unix", "redis+socket"])
def test_tasks_go_over_a_unix_socket_to_a_worker(
    backend: str, spelling: str, socket_path: Path, tmp_path: Path
) -> None:
    import redis

    query = f"db={DB}" if spelling == "unix" else f"virtual_host={DB}"
    url = f"{spelling}://{socket_path}?{query}"
    name = f"socket-{uuid.uuid4().hex[:8]}"
    client = redis.Redis(unix_socket_path=str(socket_path), db=DB)
    engine = TasQ(backend=backend, broker_url=url, name=name, results=10)
    worker: WorkerProcess | None = None
    try:
        ids = [engine.enqueue(tasks.add.task(n, 1)) for n in range(5)]
        # Before any worker: the messages wait in the database the URL named, beside the ledger.
        assert client.exists(f"tasq:{name}:ids")
        assert [key for key in client.scan_iter(f"*{name}*") if not key.startswith(b"tasq:")]
        worker = WorkerProcess(url, tmp_path, engine=name, backend=backend)
        worker.wait_ready()
        assert engine.join(30), worker.log()[-3000:]
        assert worker.events.wait(ids), worker.log()[-3000:]
        assert [worker.events.outcome(i)["value"] for i in ids] == [1, 2, 3, 4, 5]
        result = engine.result(ids[-1])  # the ledger, read back over the socket
        assert result is not None and result.return_value == 5
        assert worker.stop() == 0
    finally:
        if worker is not None:
            worker.kill()
        engine.close()
        keys = [*client.scan_iter(f"*{name}*")]
        if keys:
            client.delete(*keys)
        client.close()


@pytest.mark.parametrize("backend", ["celery", "dramatiq"])
@pytest.mark.parametrize("url", ["unix://", "redis+socket:///?virtual_host=1"])
def test_a_socket_url_without_its_path_is_refused_at_configuration(backend: str, url: str) -> None:
    with pytest.raises(ValueError, match="a Unix socket URL needs the socket's path"):
        TasQ(backend=backend, broker_url=url)
