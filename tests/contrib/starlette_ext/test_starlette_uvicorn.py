"""The example apps under a real uvicorn: the contract over HTTP, and SIGTERM with tasks in
flight (promise 10, docs/reliability.md): every accepted id is logged once as done, failed or cancelled."""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.contrib.starlette_ext.uvicorn_server import serve

pytestmark = pytest.mark.timeout(90)

EXAMPLES = ["starlette_app", "fastapi_app"]


def event(number: int) -> dict[str, object]:
    return {"id": f"evt_{number}", "type": "order.paid", "data": {"order": number}}


@pytest.mark.parametrize("example", EXAMPLES)
def test_the_example_app_over_http(example: str) -> None:
    with serve(example, env={"LOG_LEVEL": "INFO", "WEBHOOK_BUSY_RATE": "0"}) as server:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            accepted = client.post("/webhooks/shop", json=event(1))
            assert accepted.status_code == 202
            task_id = accepted.json()["task_id"]
            assert accepted.json() == {"accepted": "evt_1", "task_id": task_id}
            assert client.post("/webhooks/shop", content=b"not json").status_code in (400, 422)
            deadline = time.monotonic() + 10
            while (status := client.get(f"/tasks/{task_id}").json())["status"] != "DONE":
                assert time.monotonic() < deadline, status
                time.sleep(0.02)
            assert status == {"id": task_id, "status": "DONE", "attempts": 1, "error": None}
            stats = client.get("/stats").json()
        assert stats["enqueued"] == stats["done"] == 1
        assert stats.keys() == {"enqueued", "done", "failed", "retried", "cancelled", "latency_ms"}
        assert stats["latency_ms"].keys() == {"p50", "p99"}
        assert server.stop(signal.SIGTERM) == 0
        assert "tasq: engine 'app' shut down in" in server.log_text()


@pytest.mark.parametrize("example", EXAMPLES)
def test_sigterm_with_1000_tasks_in_flight_reports_every_id_once(example: str) -> None:
    shutdown_timeout = 1.0
    env = {
        "LOG_LEVEL": "DEBUG",  # the done lines are DEBUG; failures and cancellations are louder
        "WEBHOOK_DELIVERY_SECONDS": "1",  # 0.5 to 1.5 s each: in flight when SIGTERM comes
        "WEBHOOK_BUSY_RATE": "0.2",  # some ask for a retry, which falls due after the close
        "TASQ_SHUTDOWN_TIMEOUT": str(shutdown_timeout),
    }
    with serve(example, env=env) as server, httpx.Client(base_url=server.url, timeout=10) as client:

        def post(number: int) -> int:
            response = client.post("/webhooks/shop", json=event(number))
            assert response.status_code == 202, response.text
            return int(response.json()["task_id"])

        with ThreadPoolExecutor(8) as clients:
            accepted = list(clients.map(post, range(1000)))
        client.close()
        stopping = time.monotonic()
        assert server.stop(signal.SIGTERM, timeout=shutdown_timeout + 20) == 0
        took = time.monotonic() - stopping
        log = server.log_text()

    assert len(set(accepted)) == 1000
    outcomes = server.outcomes()
    assert set(outcomes) == set(accepted), "ids never reported, or reported but never accepted"
    assert {task_id: n for task_id, n in outcomes.items() if n != 1} == {}, "ids reported more than once"
    assert " done\n" in log, "the drain let the tasks in flight finish"
    assert "cancelled:" in log, "retries that fell due after the close were cancelled"
    assert took < shutdown_timeout + 10, f"exit took {took:.1f}s"


def test_without_lifespan_the_engine_starts_lazily_and_drains_at_exit() -> None:
    # `--lifespan off`: no startup or shutdown event; the engine starts with the first task
    # and the interpreter's exit drains it (uvicorn ends a Ctrl-C shutdown with
    # KeyboardInterrupt, and exit handlers run; SIGTERM would end the process without them).
    env = {"LOG_LEVEL": "DEBUG", "WEBHOOK_DELIVERY_SECONDS": "0.5", "WEBHOOK_BUSY_RATE": "0"}
    with serve("starlette_app", env=env, uvicorn_cli=("--lifespan", "off")) as server:
        assert "engine 'app' started" not in server.log_text()
        with httpx.Client(base_url=server.url, timeout=10) as client:
            accepted = [client.post("/webhooks/shop", json=event(n)).json()["task_id"] for n in range(20)]
        server.stop(signal.SIGINT)
        log = server.log_text()
    assert "Waiting for application startup" not in log
    assert server.outcomes() == dict.fromkeys(accepted, 1)
    assert log.count(" done\n") == 20  # none were cut short: the exit drained them
