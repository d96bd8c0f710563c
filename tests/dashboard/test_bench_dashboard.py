"""The dashboard's benchmark still runs and yields its rows (never a check of speed)."""

from __future__ import annotations

import math

import pytest

from benchmarks import bench_dashboard

pytestmark = pytest.mark.timeout(60)


def test_dashboard_benchmark_yields_its_rows() -> None:
    results = bench_dashboard.run(quick=True, n=200, repetitions=1)
    assert [result.name for result in results] == [bench_dashboard.STATS, bench_dashboard.JSON, bench_dashboard.PAGE]
    assert all(math.isfinite(result.ns) and result.ns > 0 for result in results)
    assert results[1].target and results[1].met is not None
