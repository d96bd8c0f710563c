"""Schedules: what @periodic accepts and refuses at decoration, and the slots it computes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from tasq import TasQ, periodic
from tasq.periodic import Cron, Every, PeriodicFunction
from tasq.periodic.schedule import make_schedule

pytestmark = pytest.mark.timeout(10)

PARIS = ZoneInfo("Europe/Paris")


def at(*fields: int, tz: timezone | ZoneInfo = UTC) -> datetime:
    return datetime(*fields, tzinfo=tz)  # type: ignore[misc]


# -- bad input, at decoration -----------------------------------------------------------


@pytest.mark.parametrize(
    "cron", ["", "foo", "* * *", "* * * * * * *", "61 * * * *", "* 24 * * *", "* * 32 * *", "0 0 30 2 *", "* * * 13 *"]
)
def test_a_cron_that_does_not_parse_is_a_value_error_at_decoration(cron: str) -> None:
    with pytest.raises(ValueError, match="does not parse"):
        periodic(cron=cron)


@pytest.mark.parametrize("every", [0, -1, 0.0, timedelta(0), timedelta(seconds=-5), float("nan"), float("inf")])
def test_every_not_above_zero_is_a_value_error(every: float | timedelta) -> None:
    with pytest.raises(ValueError, match="every must be"):
        periodic(every=every)


@pytest.mark.parametrize("every", ["60", True, [1], None.__class__])
def test_every_not_a_number_or_timedelta_is_a_type_error(every: object) -> None:
    with pytest.raises(TypeError, match="every must be seconds or a timedelta"):
        periodic(every=every)  # type: ignore[arg-type]


def test_an_unknown_time_zone_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        periodic(cron="* * * * *", tz="Mars/Olympus")
    with pytest.raises(TypeError, match="tz must be"):
        periodic(cron="* * * * *", tz=1)  # type: ignore[arg-type]


def test_exactly_one_of_cron_and_every() -> None:
    with pytest.raises(TypeError, match="exactly one of"):
        periodic()
    with pytest.raises(TypeError, match="exactly one of"):
        periodic(cron="* * * * *", every=60)
    with pytest.raises(TypeError, match="tz= applies to cron= only"):
        periodic(every=60, tz="Europe/Paris")
    with pytest.raises(TypeError, match="cron must be a str"):
        periodic(cron=5)  # type: ignore[arg-type]


def test_background_options_are_checked_too() -> None:
    with pytest.raises(ValueError, match="priority"):
        periodic(every=1, priority=1000)
    with pytest.raises(TypeError, match="tasq must be a TasQ"):
        periodic(every=1, tasq="default")  # type: ignore[arg-type]


def test_a_function_that_needs_arguments_is_refused() -> None:
    with pytest.raises(TypeError, match="callable with no arguments"):

        @periodic(every=60)
        def needs(to: str) -> None: ...


def test_a_periodic_function_is_still_a_background_function() -> None:
    calls: list[str] = []
    engine = TasQ(name="still-background")
    try:

        @periodic(every=3600, priority=3, tasq=engine)
        def purge() -> str:
            """Purge."""
            calls.append("called")
            return "purged"

        assert isinstance(purge, PeriodicFunction)
        assert purge() == "purged"  # an ordinary call
        assert purge.__doc__ == "Purge." and purge.__name__ == "purge"
        assert purge.options.priority == 3
        assert (
            purge.options.name == f"{__name__}.test_a_periodic_function_is_still_a_background_function.<locals>.purge"
        )
        assert isinstance(purge.schedule, Every) and purge.schedule.seconds == 3600
        assert calls == ["called"]
    finally:
        engine.close()


# -- every= slots -----------------------------------------------------------------------


def test_every_slots_are_multiples_of_the_period_since_the_epoch() -> None:
    schedule = make_schedule(every=timedelta(minutes=5))
    assert schedule.latest(at(2026, 5, 1, 12, 3, 7)) == at(2026, 5, 1, 12, 0)
    assert schedule.latest(at(2026, 5, 1, 12, 5)) == at(2026, 5, 1, 12, 5)  # a slot at exactly now counts
    assert schedule.next_after(at(2026, 5, 1, 12, 5)) == at(2026, 5, 1, 12, 10)  # strictly after
    assert schedule.next_after(at(2026, 5, 1, 12, 3, 7)) == at(2026, 5, 1, 12, 5)
    assert schedule.period(at(2026, 5, 1, 12, 5)) == timedelta(minutes=5)


def test_fractional_every_steps_evenly() -> None:
    schedule = make_schedule(every=0.25)
    slot = schedule.latest(at(2026, 5, 1, 12, 0, 0))
    seen = [slot]
    for _ in range(400):
        slot = schedule.next_after(slot)
        seen.append(slot)
    steps = {b - a for a, b in pairwise(seen)}
    assert steps == {timedelta(milliseconds=250)}
    assert seen[-1] == at(2026, 5, 1, 12, 1, 40)


# -- cron= slots, time zones, DST -------------------------------------------------------


def test_cron_defaults_to_utc_and_slots_are_utc() -> None:
    schedule = make_schedule(cron="*/5 * * * *")
    assert isinstance(schedule, Cron) and schedule.tz is UTC
    assert schedule.next_after(at(2026, 5, 1, 12, 3, 7)) == at(2026, 5, 1, 12, 5)
    assert schedule.latest(at(2026, 5, 1, 12, 5)) == at(2026, 5, 1, 12, 5)
    assert schedule.latest(at(2026, 5, 1, 12, 4, 59, 999999)) == at(2026, 5, 1, 12, 0)
    assert schedule.next_after(at(2026, 5, 1, 12, 5)).tzinfo is UTC


def test_cron_in_a_time_zone_runs_at_local_time() -> None:
    schedule = make_schedule(cron="0 9 * * MON-FRI", tz="Europe/Paris")
    # Friday 1 May 2026, 09:00 in Paris is 07:00 UTC (CEST, +2); the next is Monday 4 May.
    assert schedule.next_after(at(2026, 5, 1, 0, 0)) == at(2026, 5, 1, 7, 0)
    assert schedule.next_after(at(2026, 5, 1, 7, 0)) == at(2026, 5, 4, 7, 0)
    # In winter (CET, +1), 09:00 is 08:00 UTC.
    assert make_schedule(cron="0 9 * * *", tz=PARIS).next_after(at(2026, 1, 5)) == at(2026, 1, 5, 8, 0)


def test_dst_spring_forward_a_daily_job_in_the_skipped_hour_runs_once_just_after_it() -> None:
    # 29 March 2026, Paris: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist that day.
    schedule = make_schedule(cron="30 2 * * *", tz="Europe/Paris")
    first = schedule.next_after(at(2026, 3, 28, 12, 0))
    second = schedule.next_after(first)
    third = schedule.next_after(second)
    assert first.astimezone(PARIS) == datetime(2026, 3, 29, 3, 0, tzinfo=PARIS)  # the first minute after the gap
    assert second.astimezone(PARIS) == datetime(2026, 3, 30, 2, 30, tzinfo=PARIS)
    assert third - second == timedelta(days=1)
    assert second - first == timedelta(hours=23, minutes=30)


def test_dst_fall_back_a_daily_job_in_the_repeated_hour_runs_once() -> None:
    # 25 October 2026, Paris: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice.
    schedule = make_schedule(cron="30 2 * * *", tz="Europe/Paris")
    first = schedule.next_after(at(2026, 10, 24, 12, 0))
    second = schedule.next_after(first)
    assert first == at(2026, 10, 25, 0, 30)  # 02:30 CEST, the first of the two
    assert second == at(2026, 10, 26, 1, 30)  # the next day's 02:30 CET: not 02:30 CET on the 25th
    assert schedule.latest(at(2026, 10, 25, 1, 45)) == first  # 02:45 CET, in the repeated hour


def test_dst_fall_back_an_interval_job_runs_in_both_copies_of_the_hour() -> None:
    schedule = make_schedule(cron="*/30 * * * *", tz="Europe/Paris")
    slot = at(2026, 10, 24, 23, 0)  # 01:00 CEST
    slots = []
    for _ in range(6):
        slot = schedule.next_after(slot)
        slots.append(slot)
    # Every 30 minutes of real time, through the repeated hour: no gap, no double.
    assert {b - a for a, b in pairwise(slots)} == {timedelta(minutes=30)}
    assert [s.astimezone(PARIS).strftime("%H:%M%z") for s in slots] == [
        "01:30+0200", "02:00+0200", "02:30+0200", "02:00+0100", "02:30+0100", "03:00+0100",
    ]  # fmt: skip


def test_six_fields_put_seconds_first() -> None:
    schedule = make_schedule(cron="*/15 * * * * *")
    assert schedule.next_after(at(2026, 5, 1, 12, 0, 1)) == at(2026, 5, 1, 12, 0, 15)


@pytest.mark.parametrize("cron", ["0 * * * *", "*/30 * * * *", "30 2 * * *", "15 1-3 * * *", "0 0 * * SUN"])
@pytest.mark.parametrize("around", [at(2026, 3, 28, 12), at(2026, 10, 24, 12)])
def test_every_slot_is_its_own_latest_across_dst_changes(cron: str, around: datetime) -> None:
    # What the ticker relies on: a slot counts at the instant it is due, in both copies of a
    # repeated hour too (local-time arithmetic would lose the second copy's fold).
    schedule = make_schedule(cron=cron, tz="Europe/Paris")
    slot = schedule.next_after(around)
    for _ in range(60):
        assert schedule.latest(slot) == slot
        assert schedule.latest(slot - timedelta(microseconds=1)) < slot
        following = schedule.next_after(slot)
        assert following > slot
        slot = following


@pytest.mark.parametrize(
    ("cron", "first"),
    [
        ("0 0 L * *", at(2026, 1, 31)),  # the last day of the month
        ("0 0 LW * *", at(2026, 1, 30)),  # the last weekday
        ("0 0 * * 5#2", at(2026, 1, 9)),  # the second Friday
        ("0 0 * * 5L", at(2026, 1, 30)),  # the last Friday
        ("0 9 * JAN-MAR MON", at(2026, 1, 5, 9)),
    ],
)
def test_the_cron_extensions_the_docs_name(cron: str, first: datetime) -> None:
    assert make_schedule(cron=cron).next_after(at(2026, 1, 1)) == first
