"""When a periodic task is due: ``cron=`` in a time zone, or ``every=`` a fixed number of seconds.

A schedule is a set of instants, the *slots*. Every process computes the same slots, so
that they can agree on which one a run belongs to: ``every=`` slots are multiples of the
period since the Unix epoch (``every=300`` is due at :00, :05, ... UTC), ``cron=`` slots are
the expression's matches in its time zone. Slots are aware ``datetime`` objects in UTC.

Cron expressions are parsed and evaluated by cronsim (https://github.com/cuu508/cronsim), not
by hand. Beside croniter, the other maintained choice:

- DST: cronsim follows Debian cron, as users expect of a cron line. A job at a fixed time
  that falls in the repeated hour of a fall-back change runs once, not twice (croniter 7
  gives both 02:30+02:00 and 02:30+01:00 for ``30 2 * * *`` in Europe/Paris); one in the
  skipped hour of a spring-forward change runs at the first minute after it (both agree).
  Interval fields (``*/30 * * * *``) run in both copies of a repeated hour, as cron does.
- Strictness: cronsim refuses what cron refuses (croniter accepts a 7-field line).
- Cost: about 40 µs for the next slot against croniter's 230 µs, on this project's 2-core
  machine; the ticker computes one per run, so either would do, but it is free.
- Dependencies and licence: cronsim has none and is BSD-3-Clause; croniter (MIT) needs
  python-dateutil. Both are maintained (cronsim by Healthchecks.io, which runs it at scale;
  croniter by pallets-eco since its author's 2024 deprecation notice).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from datetime import UTC, datetime, timedelta, tzinfo

__all__ = ["Cron", "Every", "Schedule", "make_schedule"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)


class Schedule(ABC):
    """The slots of one periodic task."""

    @abstractmethod
    def next_after(self, moment: datetime) -> datetime:
        """The first slot strictly after ``moment`` (an aware datetime)."""

    @abstractmethod
    def latest(self, moment: datetime) -> datetime:
        """The last slot at or before ``moment``."""

    def period(self, slot: datetime) -> timedelta:
        """How long ``slot`` lasts: until the next slot."""
        return self.next_after(slot) - slot


class Every(Schedule):
    """A slot every ``seconds``, counted from the Unix epoch."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def latest(self, moment: datetime) -> datetime:
        elapsed = (moment - _EPOCH).total_seconds()
        index = math.floor(elapsed / self.seconds)
        slot = _EPOCH + timedelta(seconds=index * self.seconds)
        # Float rounding may put the computed slot a hair after moment: step back once.
        return slot if slot <= moment else _EPOCH + timedelta(seconds=(index - 1) * self.seconds)

    def next_after(self, moment: datetime) -> datetime:
        index = math.floor((self.latest(moment) - _EPOCH).total_seconds() / self.seconds + 0.5) + 1
        return _EPOCH + timedelta(seconds=index * self.seconds)

    def __repr__(self) -> str:
        return f"every {self.seconds:g}s"


class Cron(Schedule):
    """The matches of a cron expression (5 fields, or 6 with seconds first) in ``tz``."""

    __slots__ = ("expression", "tz")

    def __init__(self, expression: str, tz: tzinfo) -> None:
        self.expression = expression
        self.tz = tz
        self.next_after(datetime.now(UTC))  # cronsim checks some ranges only when it iterates

    def next_after(self, moment: datetime) -> datetime:
        from cronsim import CronSim  # only for cron schedules: importing tasq stays light

        return next(CronSim(self.expression, moment.astimezone(self.tz))).astimezone(UTC)

    def latest(self, moment: datetime) -> datetime:
        from cronsim import CronSim

        # cronsim's reverse iteration starts strictly before a whole second: one second later
        # makes a slot at exactly ``moment`` count. The arithmetic is done in UTC: local
        # arithmetic drops ``fold`` and would turn 02:00 CET into 02:00 CEST in a repeated hour.
        start = (moment.astimezone(UTC).replace(microsecond=0) + _SECOND).astimezone(self.tz)
        return next(CronSim(self.expression, start, reverse=True)).astimezone(UTC)

    def __repr__(self) -> str:
        return f"cron {self.expression!r} in {self.tz}"


def make_schedule(cron: object = None, every: object = None, tz: object = None) -> Schedule:
    """The schedule ``@periodic`` was given, or a TypeError/ValueError that says what is wrong."""
    if (cron is None) == (every is None):
        raise TypeError("@periodic needs exactly one of cron='*/5 * * * *' or every=seconds (or a timedelta)")
    if every is not None:
        if tz is not None:
            raise TypeError("tz= applies to cron= only: every= counts seconds, which have no time zone")
        return Every(_period(every))
    if not isinstance(cron, str):
        raise TypeError(f"cron must be a str such as '*/5 * * * *', not {type(cron).__name__}")
    zone = _zone(tz)
    from cronsim import CronSimError

    try:
        return Cron(cron, zone)
    except (CronSimError, ValueError, IndexError, StopIteration) as error:
        raise ValueError(f"cron expression {cron!r} does not parse: {error or type(error).__name__}") from None


def _period(every: object) -> float:
    if isinstance(every, timedelta):
        seconds = every.total_seconds()
    elif isinstance(every, (int, float)) and not isinstance(every, bool):
        seconds = float(every)
    else:
        raise TypeError(f"every must be seconds or a timedelta, not {type(every).__name__}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"every must be a finite number of seconds > 0, not {every!r}")
    return seconds


def _zone(tz: object) -> tzinfo:
    if tz is None:
        return UTC
    if isinstance(tz, tzinfo):
        return tz
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # only for a named zone

    if not isinstance(tz, str):
        raise TypeError(f"tz must be a zoneinfo name such as 'Europe/Paris' or a tzinfo, not {type(tz).__name__}")
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {tz!r}: give an IANA name such as 'Europe/Paris'") from None
