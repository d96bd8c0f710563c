"""How every benchmark here measures: peers side by side, interleaved, medians of ratios.

A benchmark module exposes ``run(quick: bool) -> list[Result]``. It measures each
contender with ``measure()`` in one process run, alternating between them repetition
by repetition, so that the machine's drift hits every contender alike; the ratio it
reports is the median over repetitions of (contender time / baseline time).
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tasq import Hooks


@dataclass(frozen=True, slots=True)
class Result:
    group: str  # the table this row belongs to, e.g. "engine: 100k no-op tasks end to end"
    name: str  # the contender, e.g. "TasQ (default)"
    ns: float  # median nanoseconds per task (or per request, or bytes: see unit)
    ratio: float | None = None  # median of paired ratios to the group's baseline
    baseline: str | None = None  # the contender the ratio is against
    target: str = ""  # the target this row is held to, e.g. "<= 1.3x floor"
    met: bool | None = None  # whether the target is met (None: no target)
    unit: str = "ns/task"
    note: str = ""
    spread: tuple[float, float] | None = None  # lowest and highest paired ratio: how noisy the run was


Trial = Callable[[], float]  # runs one repetition, returns seconds for `per` operations


def measure(trials: dict[str, Trial], repetitions: int, per: int) -> dict[str, list[float]]:
    """Run each trial ``repetitions`` times, interleaved; ns per operation for each run."""
    samples: dict[str, list[float]] = {name: [] for name in trials}
    for _ in range(repetitions):
        for name, trial in trials.items():
            gc.collect()
            seconds = trial()
            samples[name].append(seconds / per * 1e9)
    return samples


def paired_ratio(samples: dict[str, list[float]], name: str, baseline: str) -> float:
    return statistics.median(a / b for a, b in zip(samples[name], samples[baseline], strict=True))


def ratio_range(samples: dict[str, list[float]], name: str, baseline: str) -> tuple[float, float]:
    """The lowest and highest paired ratio: the spread that the median hides."""
    ratios = [a / b for a, b in zip(samples[name], samples[baseline], strict=True)]
    return min(ratios), max(ratios)


def row(group: str, samples: dict[str, list[float]], name: str, baseline: str, **fields: Any) -> Result:
    """A table row: the contender's median, and its paired ratio (and range) to the baseline."""
    return Result(
        group=group,
        name=name,
        ns=median(samples[name]),
        ratio=paired_ratio(samples, name, baseline),
        baseline=baseline,
        spread=ratio_range(samples, name, baseline),
        **fields,
    )


def median(values: list[float]) -> float:
    return statistics.median(values)


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


T = TypeVar("T")


class EmptyAroundTask(Hooks):
    """The least a per-task layer can add: one ``around_task`` hook that only calls the task.
    An integration's layer is measured against the bare engine; this is its lower bound."""

    def around_task(self, task_id: int, call: Callable[[], T]) -> T:
        return call()
