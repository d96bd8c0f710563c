"""Tasks of the tests, at module level as Django's Tasks framework requires."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import django

from tasq import RetryTask, background

from .models import Item

if django.VERSION >= (6, 0):
    from django.tasks import TaskContext, task
else:
    from django_tasks import TaskContext, task

# Set by tests that need a task to wait: {"gate": threading.Event, "order": list}
shared: dict[str, Any] = {}


@background
def add_item(number: int) -> int:
    return Item.objects.create(number=number).pk


@background
def record(tag: str, using: str | None = None) -> None:
    shared.setdefault("recorded", []).append((tag, using, threading.current_thread().name))


@background
def retry_once(tag: str) -> str:
    seen = shared.setdefault("attempts", [])
    seen.append(tag)
    if seen.count(tag) == 1:
        raise RetryTask("not yet")
    return tag


@background
def explode() -> None:
    raise ValueError("boom")


@background
async def sleep_then_return(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


@task
def echo(*args: Any, **kwargs: Any) -> Any:
    return {"args": args, "kwargs": kwargs, "thread": threading.current_thread().name}


@task
def fail(message: str) -> None:
    raise ValueError(message)


@task
def unserializable() -> object:
    return object()


@task
def wait_for_gate(tag: str) -> str:
    gate: threading.Event = shared["gate"]
    started = shared.get("started")
    if started is not None:
        started.set()  # a test waits on this rather than polling the status
    if not gate.wait(10):
        raise TimeoutError("gate never opened")
    shared.setdefault("order", []).append(tag)
    return tag


@task(takes_context=True)
def retry_twice(context: TaskContext, tag: str) -> dict[str, Any]:
    if context.attempt < 3:
        raise RetryTask(f"attempt {context.attempt}")
    return {"tag": tag, "attempt": context.attempt, "id": context.task_result.id}


@task(takes_context=True)
def always_retry(context: TaskContext) -> None:
    raise RetryTask(f"attempt {context.attempt}")


@task
async def async_double(value: int) -> int:
    await asyncio.sleep(0)
    return value * 2


@task
def count_items() -> int:
    return Item.objects.count()


@background
def slow(seconds: float) -> None:
    time.sleep(seconds)
