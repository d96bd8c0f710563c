"""pytest-django for this folder only: Django is configured here, not for the whole suite.

The integration registers a resolver that sends every ``@background`` call of the process
to the Django engine. This suite shares its process with other frameworks' tests, so the
resolver is active only while a test of this folder runs, and each test closes the engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import django
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from tests.contrib.django_ext import settings as test_settings

if not settings.configured:
    settings.configure(**{name: getattr(test_settings, name) for name in dir(test_settings) if name.isupper()})
    django.setup()

import tasq.contrib.django as tasq_django
from tasq import context


def _disconnect() -> None:
    for registry in (context._resolvers, context._fallbacks):
        while tasq_django.get_engine in registry:
            registry.remove(tasq_django.get_engine)


_disconnect()


@pytest.fixture(scope="session", autouse=True)
def _asgiref_thread() -> None:
    # asgiref's thread for sync_to_async (the ORM from async tasks) lives for the process:
    # started here, before any test's thread count.
    asyncio.run(sync_to_async(lambda: None)())


@pytest.fixture(scope="module", autouse=True)
def _disconnected_after_the_django_tests() -> Iterator[None]:
    # A TasQBackend made during a test connects Django's resolver again (it works without the
    # app): the tests that follow, outside Django, must not find it.
    yield
    _disconnect()


@pytest.fixture(autouse=True)
def _django_engine() -> Iterator[None]:
    context.register_resolver(tasq_django.get_engine, fallback=True)
    try:
        yield
    finally:
        _disconnect()
        tasq_django._shut_down = False  # a test shut the server down: the next one starts afresh
        engine = tasq_django._engine
        if engine is not None and not engine.closed:
            engine.close(timeout=10, cancel_pending=True)
