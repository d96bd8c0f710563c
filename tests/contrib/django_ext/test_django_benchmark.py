"""The Django benchmark still runs and yields every row (never a check of speed)."""

from __future__ import annotations

import math

import pytest

from benchmarks import bench_django

pytestmark = pytest.mark.timeout(120)


def test_the_django_benchmark_yields_every_row() -> None:
    results = bench_django.run(quick=True, n=200, repetitions=1)
    names = {(result.group, result.name) for result in results}
    assert (bench_django.TASKS_GROUP, bench_django.TASQ_BACKEND) in names
    assert (bench_django.TASKS_GROUP, bench_django.LOCAL) in names  # measured, or skipped with a note
    assert (bench_django.BACKGROUND_GROUP, bench_django.ON_DJANGO) in names
    assert (bench_django.ENQUEUE_GROUP, bench_django.ON_DJANGO) in names
    measured = [result for result in results if not result.note.startswith("skipped")]
    assert all(math.isfinite(result.ns) and result.ns > 0 for result in measured)
    assert [result.met is not None for result in results if result.target] == [True, True, True]
