"""The ticker, on a fake clock: one run per slot as an ordinary task, the catch-up rule, lifecycle."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import tasq
from tasq import TasQ, periodic, use_engine
from tasq.periodic import FakeClock, MemorySlotClaim, Ticker, next_runs
from tasq.periodic.decorator import PeriodicFunction
from tasq.periodic.schedule import make_schedule
from tasq.task import TaskOptions

pytestmark = pytest.mark.timeout(20)

START = datetime(2026, 5, 1, 12, 0, 0, 500000, tzinfo=UTC)  # half a second into a slot


class RecordingClaim(MemorySlotClaim):
    """A claim that remembers what was asked and what was granted."""

    def __init__(self) -> None:
        super().__init__()
        self.granted: list[tuple[str, datetime]] = []
        self.refused: list[tuple[str, datetime]] = []

    def claim(self, engine: str, task: str, slot: datetime, keep_until: datetime) -> bool:
        ok = super().claim(engine, task, slot, keep_until)
        (self.granted if ok else self.refused).append((task, slot))
        return ok


@pytest.fixture
def done() -> list[int]:
    return []


@pytest.fixture
def engine(done: list[int]) -> Iterator[TasQ]:
    engine = TasQ(workers=2, results=100, name="ticker-test", on_done=done.append)
    engine.start()
    yield engine
    engine.close(timeout=5, cancel_pending=True)


@pytest.fixture
def tickers() -> Iterator[Callable[..., Ticker]]:
    made: list[Ticker] = []

    def make(engine: TasQ, functions: list[PeriodicFunction[..., Any]], claim: Any, clock: FakeClock) -> Ticker:
        ticker = Ticker(engine, functions, claim, clock=clock)
        made.append(ticker)
        ticker.start()
        assert clock.wait_idle(), "the ticker did not settle"
        return ticker

    yield make
    for ticker in made:
        ticker.stop()


def scheduled(engine: TasQ, **schedule: Any) -> Callable[[Callable[[], Any]], PeriodicFunction[[], Any]]:
    """A periodic function that only the test's own ticker runs: not registered, so the
    engine's real ticker (on the system clock) never sees it."""

    def make(fn: Callable[[], Any]) -> PeriodicFunction[[], Any]:
        options = TaskOptions(name=f"{fn.__module__}.{fn.__qualname__}")
        return PeriodicFunction(fn, options, engine, make_schedule(**schedule))

    return make


def step(clock: FakeClock, seconds: float, engine: TasQ) -> None:
    clock.advance(seconds)
    assert clock.wait_idle(), "the ticker did not settle"
    assert engine.join(5)


def test_each_slot_runs_once_as_an_ordinary_task(engine: TasQ, done: list[int], tickers: Callable[..., Ticker]) -> None:
    runs: list[int] = []
    clock = FakeClock(START)

    @scheduled(engine, every=1)
    def beat() -> int:
        runs.append(1)
        return len(runs)

    claim = RecordingClaim()
    tickers(engine, [beat], claim, clock)
    assert engine.join(5)
    for _ in range(5):
        step(clock, 1, engine)
    step(clock, 0.25, engine)  # within a slot: nothing new
    assert len(runs) == 6  # 12:00:00 (the slot the start fell in) and 12:00:01 .. 12:00:05
    assert [slot for _, slot in claim.granted] == [
        START.replace(microsecond=0) + timedelta(seconds=n) for n in range(6)
    ]
    assert len(done) == 6 and len(set(done)) == 6  # six ordinary tasks: ids, on_done
    results = [engine.result(task_id) for task_id in done]
    assert [r.return_value for r in results if r is not None] == [1, 2, 3, 4, 5, 6]


def test_a_late_wake_runs_only_the_latest_slot_never_a_burst(engine: TasQ, tickers: Callable[..., Ticker]) -> None:
    runs: list[datetime] = []
    clock = FakeClock(START)

    @scheduled(engine, every=60)
    def minutely() -> None:
        runs.append(clock.now())

    claim = RecordingClaim()
    tickers(engine, [minutely], claim, clock)
    assert engine.join(5)
    step(clock, 10 * 60, engine)  # ten slots pass during one sleep
    assert len(runs) == 2
    assert [slot for _, slot in claim.granted] == [
        datetime(2026, 5, 1, 12, 0, tzinfo=UTC),
        datetime(2026, 5, 1, 12, 10, tzinfo=UTC),
    ]


def test_catch_up_a_slot_missed_while_nothing_ran_runs_once_at_the_next_start(
    engine: TasQ, tickers: Callable[..., Ticker]
) -> None:
    clock = FakeClock(START)
    runs: list[datetime] = []

    @scheduled(engine, every=60)
    def minutely() -> None:
        runs.append(clock.now())

    claim = RecordingClaim()  # shared by both "processes", as a store or the lock file would be
    first = tickers(engine, [minutely], claim, clock)
    assert engine.join(5)
    first.stop()
    clock.advance(timedelta(minutes=5, seconds=30))  # slots 12:01 .. 12:05 missed while nothing ran
    tickers(engine, [minutely], claim, clock)
    assert engine.join(5)
    assert [slot for _, slot in claim.granted] == [
        datetime(2026, 5, 1, 12, 0, tzinfo=UTC),
        datetime(2026, 5, 1, 12, 5, tzinfo=UTC),  # the latest missed slot, once; the four before it never
    ]
    assert len(runs) == 2


def test_a_restart_within_a_slot_already_run_does_not_run_it_again(
    engine: TasQ, tickers: Callable[..., Ticker]
) -> None:
    clock = FakeClock(START)
    runs: list[int] = []

    @scheduled(engine, every=60)
    def minutely() -> None:
        runs.append(1)

    claim = RecordingClaim()
    tickers(engine, [minutely], claim, clock).stop()
    clock.advance(30)
    tickers(engine, [minutely], claim, clock)
    assert engine.join(5)
    assert len(runs) == 1
    assert claim.refused == [(minutely.options.name, datetime(2026, 5, 1, 12, 0, tzinfo=UTC))]


def test_a_cron_in_paris_across_the_fall_back_change(engine: TasQ, tickers: Callable[..., Ticker]) -> None:
    paris = ZoneInfo("Europe/Paris")
    clock = FakeClock(datetime(2026, 10, 24, 12, 0, tzinfo=paris))

    @scheduled(engine, cron="30 2 * * *", tz="Europe/Paris")
    def nightly() -> None: ...

    @scheduled(engine, cron="0 * * * *", tz=paris)
    def hourly() -> None: ...

    claim = RecordingClaim()
    tickers(engine, [nightly, hourly], claim, clock)
    for _ in range(48 * 4):  # two days in 15-minute steps: no wall-clock wait
        step(clock, 15 * 60, engine)
    nights = [slot.astimezone(paris).isoformat() for task, slot in claim.granted if task == nightly.options.name]
    assert nights == [
        "2026-10-24T02:30:00+02:00",  # the start's catch-up: the latest slot, less than a period late
        "2026-10-25T02:30:00+02:00",  # once on the night of the change, not again at 02:30+01:00
        "2026-10-26T02:30:00+01:00",
    ]
    hours = [slot for task, slot in claim.granted if task == hourly.options.name]
    assert len(hours) == len(set(hours)) == 48 + 1  # every hour of 48 h of real time, the repeated one too
    assert {b - a for a, b in pairwise(hours)} == {timedelta(hours=1)}


def test_a_claim_that_raises_skips_that_slot_only(
    engine: TasQ, tickers: Callable[..., Ticker], caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(START)
    runs: list[int] = []

    class Flaky(MemorySlotClaim):
        calls = 0

        def claim(self, engine: str, task: str, slot: datetime, keep_until: datetime) -> bool:
            self.calls += 1
            if self.calls == 2:
                raise ConnectionError("store away")
            return super().claim(engine, task, slot, keep_until)

    @scheduled(engine, every=1)
    def beat() -> None:
        runs.append(1)

    tickers(engine, [beat], Flaky(), clock)
    for _ in range(3):
        step(clock, 1, engine)
    assert len(runs) == 3  # four slots, one skipped: never run twice to make up
    assert "could not claim slot" in caplog.text


def test_the_ticker_starts_with_the_engine_and_stops_at_its_close() -> None:
    runs = threading.Semaphore(0)
    engine = TasQ(name="lifecycle-test")

    @engine.periodic(every=0.1)
    def beat() -> None:
        runs.release()

    try:
        assert not [t for t in threading.enumerate() if t.name == "tasq-lifecycle-test-periodic"]  # not at decoration
        assert next_runs(engine) == {}
        engine.start()
        assert [t for t in threading.enumerate() if t.name == "tasq-lifecycle-test-periodic"]
        assert all(runs.acquire(timeout=2) for _ in range(3))  # real time: three runs, 0.1 s apart
        assert set(next_runs(engine)) == {beat.options.name}
    finally:
        engine.close()
    assert not [t for t in threading.enumerate() if t.name == "tasq-lifecycle-test-periodic"]


def test_a_function_decorated_after_start_joins_the_running_schedule() -> None:
    ran = threading.Event()
    engine = TasQ(name="late-test")
    engine.start()
    try:

        @engine.periodic(every=0.1)
        def late() -> None:
            ran.set()

        assert ran.wait(2)
    finally:
        engine.close()


def test_an_unbound_periodic_function_runs_on_the_engine_resolution_gives() -> None:
    ran: list[str] = []
    done = threading.Event()
    engine = TasQ(name="unbound-test")
    other = TasQ(name="unbound-other")

    @periodic(every=0.1)
    def anywhere() -> None:
        ran.append(threading.current_thread().name)
        done.set()

    try:
        other.start()  # not the engine @background would use here: it takes no unbound function
        assert next_runs(other) == {}
        with use_engine(engine):
            engine.start()
        assert done.wait(2)
        assert ran[0].startswith("tasq-unbound-test-worker")
    finally:
        engine.close()
        other.close()


def test_runs_are_ordinary_tasks_with_retries() -> None:
    attempts: list[int] = []
    failed: list[int] = []
    finished = threading.Event()
    engine = TasQ(
        name="retry-test", max_retry=3, on_failed=lambda task_id, error: (failed.append(task_id), finished.set())
    )

    @engine.periodic(every=3600, max_retry=2)
    def flaky() -> None:
        attempts.append(1)
        raise tasq.RetryTask()

    try:
        engine.start()  # the start's catch-up run of the current hour's slot
        assert finished.wait(5)
        assert len(attempts) == 2 and len(failed) == 1
    finally:
        engine.close()


def test_no_thread_at_decoration_and_none_for_an_engine_without_periodic_functions() -> None:
    before = threading.active_count()
    periodic(every=5)(lambda: None)
    assert threading.active_count() == before
    engine = TasQ(name="no-periodic")
    try:
        engine.start()
        time.sleep(0.05)
        assert not [t for t in threading.enumerate() if t.name.endswith("-periodic")]
    finally:
        engine.close()
