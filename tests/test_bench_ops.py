"""benchmarks/bench_ops.py still runs: at its smallest size every row has finite figures
and a verdict on its target. Never a check of speed."""

from __future__ import annotations

import math

import pytest

from benchmarks import bench_ops

pytestmark = pytest.mark.timeout(120)


def test_the_operations_benchmark_yields_its_three_rows() -> None:
    results = bench_ops.run(quick=True, n=300, repetitions=2)
    names = [bench_ops.BARE, bench_ops.METRICS, bench_ops.TRACING, bench_ops.SDK_FLOOR]
    assert [result.name for result in results] == names
    for result in results:
        assert math.isfinite(result.ns) and result.ns > 0
        assert result.ratio is not None and math.isfinite(result.ratio)
    assert all(result.met is not None and result.target for result in results[1:3])
