"""What has not started yet, as the in-memory dashboard shows it: the engine's ``pending()``
listing (delayed, retrying, prioritized tasks) and the periodic schedules."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tasq import RetryTask, TasQ, background
from tasq.dashboard import MemorySource, TaskLine
from tasq.periodic import registry
from tests.dashboard import tasks
from tests.dashboard.support import wait_until

pytestmark = pytest.mark.timeout(30)

held = background(tasks.hold)


@pytest.fixture
def engine() -> Iterator[TasQ]:
    engine = TasQ(workers=1, name="pending-test", max_retry=2, retry_delay=120)
    yield engine
    for gate in tasks.gates.values():
        gate.set()
    engine.close(timeout=10, cancel_pending=True)


def _waiting(source: MemorySource, task_id: int, state: str) -> TaskLine:
    return wait_until(
        lambda: next(
            (line for line in source.snapshot().waiting if line.task_id == task_id and line.state == state), None
        ),
        what=f"task {task_id} {state}",
    )


def test_pending_lists_what_waits_in_the_heaps_not_what_runs(engine: TasQ) -> None:
    engine.start()
    blocker = engine.submit(tasks.hold, "pending-listing")
    wait_until(lambda: blocker in engine.running_ids(), what="the blocker to start")
    delayed = engine.enqueue(lambda: None, delay=60)
    prioritized = engine.enqueue(lambda: None, priority=3)
    before = time.time()
    listed = engine.pending()  # type: ignore[attr-defined]
    assert [task_id for task_id, _, _ in listed] == [delayed, prioritized]
    (_, _, due), (_, _, no_due) = listed
    assert before + 59 < due <= before + 60.5
    assert no_due is None
    assert [task_id for task_id, _, _ in engine.pending(1)] == [delayed]  # type: ignore[attr-defined]
    assert blocker not in [task_id for task_id, _, _ in listed]


def test_a_delayed_task_shows_its_name_arguments_and_due_time(engine: TasQ) -> None:
    source = MemorySource(engine)
    engine.start()
    before = time.time()
    task_id = engine.enqueue(held.task("a@example.com", note="signup"), delay=90)
    line = _waiting(source, task_id, "delayed")
    assert line.name == "tests.dashboard.tasks.hold"
    assert line.args == "'a@example.com', note='signup'"
    assert line.run_at is not None and before + 89 < line.run_at <= time.time() + 90.5
    assert source.snapshot(args=False).waiting[0].args is None
    submitted = engine.submit(tasks.later, "b@example.com")
    wait_until(lambda: tasks.runs["b@example.com"] == 1, what="a plain task to run")
    assert submitted not in [line.task_id for line in source.snapshot().waiting]


def test_a_task_waiting_for_its_retry_shows_retrying_and_when(engine: TasQ) -> None:
    source = MemorySource(engine)
    engine.start()
    task_id = engine.submit(_retry_once)
    line = _waiting(source, task_id, "retrying")
    assert line.attempt == 2
    assert line.name == "tests.dashboard.test_pending._retry_once"
    assert line.run_at is not None and line.run_at > time.time() + 100


def test_a_prioritized_task_behind_a_busy_worker_shows_its_name(engine: TasQ) -> None:
    source = MemorySource(engine)
    engine.start()
    blocker = engine.submit(tasks.hold, "pending-priority")
    wait_until(lambda: blocker in engine.running_ids(), what="the blocker to start")
    task_id = engine.enqueue(_Later("vip"), priority=9)
    line = _waiting(source, task_id, "pending")
    assert (line.state, line.name, line.run_at) == ("pending", "tests.dashboard.test_pending._Later", None)
    assert line.args == ""  # an object with do() has no arguments to show
    tasks.gate("pending-priority").set()


def test_periodic_schedules_show_with_their_next_run(engine: TasQ) -> None:
    source = MemorySource(engine)

    @engine.periodic(cron="*/5 * * * *", name="reports.nightly")
    def nightly() -> None:
        pass

    @engine.periodic(every=3600, name="cache.warm")
    def warm() -> None:
        pass

    try:
        assert [(p.name, p.schedule, p.next_run) for p in source.snapshot().periodic] == [
            ("cache.warm", "every 3600s", None),
            ("reports.nightly", "*/5 * * * *", None),
        ]
        engine.start()

        def computed() -> object:
            shown = source.snapshot().periodic
            return shown if all(p.next_run is not None for p in shown) else None  # both, not the first one

        shown = wait_until(computed, what="the ticker to compute the next runs")
        by_name = {p.name: p.next_run for p in shown}
        now = time.time()
        assert by_name.keys() == {"cache.warm", "reports.nightly"}
        assert now < by_name["cache.warm"] <= now + 3600
        assert now < by_name["reports.nightly"] <= now + 300
    finally:
        registry.unregister(nightly)
        registry.unregister(warm)


class _Later:
    def __init__(self, email: str) -> None:
        self.email = email

    def do(self) -> None:
        tasks.runs[self.email] += 1


_tries: dict[str, int] = {}


def _retry_once() -> None:
    _tries["retry"] = _tries.get("retry", 0) + 1
    raise RetryTask("not yet")
