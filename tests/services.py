"""Reach the services some tests need, or skip them with the reason (fail under CI)."""

from __future__ import annotations

import os
import socket

import pytest

POSTGRES_URL = os.environ.get("TASQ_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TASQ_TEST_REDIS", "redis://127.0.0.1:6379/15")
RABBITMQ_URL = os.environ.get("TASQ_TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672/")

_ADDRESSES = {
    "PostgreSQL": ("127.0.0.1", 5432),
    "Redis": ("127.0.0.1", 6379),
    "RabbitMQ": ("127.0.0.1", 5672),
}


def services_required() -> bool:
    return os.environ.get("TASQ_REQUIRE_SERVICES") == "1"


def require(service: str) -> None:
    """Skip the calling test when ``service`` does not answer, or fail when CI needs it."""
    host, port = _ADDRESSES[service]
    try:
        with socket.create_connection((host, port), timeout=1):
            return
    except OSError as error:
        reason = f"{service} is not reachable on {host}:{port} ({error})"
    if services_required():
        pytest.fail(f"{reason}; TASQ_REQUIRE_SERVICES=1 needs it")
    pytest.skip(reason)
