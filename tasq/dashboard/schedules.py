"""The periodic schedules an engine runs, as the dashboard shows them: name, schedule, next run."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from ..engine import TasQ
from ..periodic import registry
from ..periodic.decorator import PeriodicFunction
from ..periodic.runtime import ticker_of
from ..periodic.schedule import Cron, Every, Schedule
from .records import Periodic

__all__ = ["schedules_of"]


def schedules_of(engine: TasQ) -> tuple[Periodic, ...]:
    """What ``engine``'s ticker runs, with each next slot; before it ticks, what it will run."""
    ticker = ticker_of(engine)
    listed: list[tuple[PeriodicFunction[..., Any], float | None]]
    if ticker is not None and ticker.engine is engine:
        listed = [(function, None if due is None else due.timestamp()) for function, due in ticker.schedules()]
    else:
        listed = [(function, None) for function in registry.for_engine(engine, registry.takes_unbound(engine))]
    return tuple(
        Periodic(name=function.options.name or "?", schedule=_told(function.schedule), next_run=next_run)
        for function, next_run in sorted(listed, key=lambda pair: pair[0].options.name or "")
    )


def _told(schedule: Schedule) -> str:
    if isinstance(schedule, Cron):
        zone = str(schedule.tz)
        return schedule.expression if schedule.tz is UTC or zone == "UTC" else f"{schedule.expression} ({zone})"
    if isinstance(schedule, Every):
        return f"every {schedule.seconds:g}s"
    return repr(schedule)
