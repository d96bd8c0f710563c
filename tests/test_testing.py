"""tasq.testing and the pytest fixtures, as an application's test suite uses them."""

from __future__ import annotations

import threading

import pytest

import tasq
from tasq import TasQ, background
from tasq.testing import eager, record

pytestmark = pytest.mark.timeout(20)

sent: list[str] = []


@background
def send_welcome(to: str) -> None:
    if "@" not in to:
        raise ValueError(f"not an address: {to}")
    sent.append(to)


def test_eager_block_runs_tasks_inline_everywhere() -> None:
    sent.clear()
    existing = TasQ(name="existing")
    with eager():
        made_inside = TasQ(name="inside")
        assert existing.eager and made_inside.eager and tasq.default().eager
        send_welcome.enqueue("a@example.com")
        assert sent == ["a@example.com"]  # done before enqueue returned
        ran_in: list[threading.Thread] = []
        existing.enqueue(lambda: ran_in.append(threading.current_thread()))
        assert ran_in == [threading.current_thread()]
    assert not existing.eager
    existing.close()
    made_inside.close()
    tasq.default().close()


def test_eager_for_named_engines_only() -> None:
    one, other = TasQ(name="one"), TasQ(name="other")
    with eager(one):
        assert one.eager and not other.eager
    assert not one.eager
    one.close()
    other.close()
    with pytest.raises(TypeError), eager("engine"):  # type: ignore[arg-type]
        pass


def test_propagate_raises_the_task_error_after_reporting() -> None:
    failures: list[int] = []
    engine = TasQ(on_failed=lambda task_id, error: failures.append(task_id))
    with eager(engine, propagate=True), pytest.raises(ValueError, match="not an address"):
        engine.enqueue(send_welcome.task("nobody"))
    assert failures == [1]
    engine.close()


def test_record_keeps_outcomes(make_engine: object) -> None:
    engine = TasQ()
    outcomes = record(engine)
    engine.start()
    ok = engine.enqueue(lambda: "value")
    bad = engine.enqueue(lambda: 1 / 0)
    assert outcomes.wait(2)
    assert outcomes.done == {ok: "value"}
    assert isinstance(outcomes.failed[bad], ZeroDivisionError)
    assert outcomes.enqueued == [ok, bad]
    engine.close()


def test_tasq_eager_fixture(tasq_eager: None) -> None:
    sent.clear()
    send_welcome.enqueue("b@example.com")
    assert sent == ["b@example.com"]
    with pytest.raises(ValueError):
        send_welcome.enqueue("broken")
    tasq.default().close()


def test_tasq_engine_fixture(tasq_engine: TasQ) -> None:
    task_id = tasq_engine.enqueue(lambda: 7)
    assert tasq_engine.join(5)
    assert tasq_engine.result(task_id).return_value == 7  # type: ignore[union-attr]
