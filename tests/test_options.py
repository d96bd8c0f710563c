"""The engine's options are declared once (tasq.options): every integration's keys come from it."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

import tasq
from tasq.options import OPTION_NAMES, SETTINGS, EngineOptions, defaults, from_settings

pytestmark = pytest.mark.timeout(20)


def test_the_constructor_takes_exactly_the_declared_options() -> None:
    assert tuple(inspect.signature(tasq.TasQ).parameters) == OPTION_NAMES
    assert {name: p.default for name, p in inspect.signature(tasq.TasQ).parameters.items()} == defaults()


def test_each_option_is_checked_as_it_is_declared() -> None:
    with pytest.raises(TypeError, match="workers must be an int"):
        EngineOptions(workers="4")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match='on_full must be "block" or "raise"'):
        EngineOptions(on_full="drop")  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        EngineOptions().workers = 2  # type: ignore[misc]


def test_a_bad_setting_is_named_by_the_apps_key_without_making_an_engine() -> None:
    engines = len(tasq.lifecycle.open_engines())
    with pytest.raises(ValueError, match=r"^SETTING_MAX_RETRY: max_retry must be >= 1"):
        from_settings({"max_retry": 0}, key=lambda name: f"SETTING_{name.upper()}")
    with pytest.raises(ValueError, match=r"^SETTING_BACKEND: unknown backend 'pigeon'"):
        from_settings({"backend": "pigeon"}, key=lambda name: f"SETTING_{name.upper()}")
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['wokers'\]"):
        from_settings({"wokers": 2}, key=str.upper)
    assert len(tasq.lifecycle.open_engines()) == engines


def test_a_bad_broker_url_is_a_broker_url_error() -> None:
    pytest.importorskip("dramatiq")
    key = lambda name: f"TASQ_{name.upper()}"  # noqa: E731
    with pytest.raises(ValueError, match=r"^TASQ_BROKER_URL: backend='dramatiq' speaks redis://"):
        from_settings({"backend": "dramatiq", "broker_url": "http://nowhere"}, key=key)
    with pytest.raises(ValueError, match=r"^TASQ_BROKER_URL: broker_url needs a distributed backend"):
        from_settings({"broker_url": "redis://127.0.0.1"}, key=key)
    with pytest.raises(ValueError, match=r"^TASQ_QUEUE_SIZE: queue_size bounds the thread engine's own queue"):
        from_settings({"backend": "dramatiq", "broker_url": "stub://", "queue_size": 5}, key=key)


def test_flask_and_django_keys_come_from_the_declaration() -> None:
    pytest.importorskip("flask")
    from tasq.contrib import flask as flask_ext

    assert set(flask_ext.DEFAULTS) | {"TASQ_NAME"} == {f"TASQ_{name.upper()}" for name in SETTINGS}
    assert "autostart" not in SETTINGS  # the integration starts its engine with the app


def test_the_thread_engine_and_a_broker_engine_share_the_contract_only() -> None:
    pytest.importorskip("dramatiq")
    from tasq.backends.dramatiq import DramatiqEngine
    from tasq.thread import ThreadEngine

    assert issubclass(DramatiqEngine, tasq.TasQ) and issubclass(ThreadEngine, tasq.TasQ)
    assert not issubclass(DramatiqEngine, ThreadEngine)
    assert ThreadEngine.runs_tasks_in_process and not DramatiqEngine.runs_tasks_in_process
    assert ThreadEngine.supports_any_callable and not DramatiqEngine.supports_any_callable
    engine = tasq.TasQ(backend="dramatiq", broker_url="stub://")
    try:
        assert type(engine) is DramatiqEngine
        assert isinstance(engine, tasq.TasQ)
    finally:
        engine.close()
