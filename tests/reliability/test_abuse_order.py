"""Promise 22 (docs/reliability.md): priority order among due tasks, whatever order they came in."""

from __future__ import annotations

import pytest

from tests.conftest import scaled
from tests.support import Gate, Make, Recorder

pytestmark = pytest.mark.timeout(30)


def test_a_negative_priority_waits_for_the_plain_tasks_due_with_it(make_engine: Make) -> None:
    """22. One busy worker; priority=-5 enqueued first, then five plain tasks: the plain ones run first."""
    gate, order = Gate(), []
    engine = make_engine(workers=1)
    engine.start()
    engine.enqueue(gate.task)
    assert gate.wait_started(1)
    engine.enqueue(lambda: order.append(-5), priority=-5)
    for n in range(5):
        engine.enqueue(lambda n=n: order.append(n))
    engine.enqueue(lambda: order.append(-1), priority=-1)
    gate.open()
    assert engine.join(5)
    assert order == [0, 1, 2, 3, 4, -1, -5]


@pytest.mark.stress
def test_negative_priorities_queued_before_a_graceful_close_still_run(make_engine: Make) -> None:
    """22. Negative-priority tasks interleaved with plain ones, then close(): every task runs, once."""
    tasks = scaled(10_000)
    recorder = Recorder()
    gate = Gate()
    engine = make_engine(workers=4, on_done=recorder.on_done, on_failed=recorder.on_failed)
    engine.start()
    blockers = [engine.enqueue(gate.task) for _ in range(4)]
    assert gate.wait_started(4)
    ids = [engine.enqueue(lambda: None, priority=-(n % 3)) for n in range(tasks)]
    gate.open()
    engine.close(timeout=20)
    recorder.assert_once_each(blockers + ids)
    assert not recorder.failed
