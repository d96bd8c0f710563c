"""What ``tasq worker`` imports in these tests: an engine made as an app makes it, with
hooks and callbacks that write events, and the tasks module."""

from __future__ import annotations

import os

from tasq import TasQ
from tests.backends import tasks  # noqa: F401 - the worker runs its @background functions
from tests.backends.recording import EventLog

events = EventLog(os.environ["TASQ_TEST_EVENTS"])
engine = TasQ(
    backend=os.environ.get("TASQ_BACKEND", "dramatiq"),
    broker_url=os.environ["TASQ_BROKER_URL"],
    name=os.environ.get("TASQ_TEST_ENGINE", "contract"),
    on_done=events.on_done,
    on_failed=events.on_failed,
)
engine.add_hooks(events)
