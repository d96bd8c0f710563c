"""The scale-out benchmark still runs and yields every row (never a check of speed)."""

from __future__ import annotations

import math

import pytest

from benchmarks import bench_dramatiq as bench
from tests.conftest import SCALE
from tests.services import require

# Four worker processes start and stop: ~10 s, so it runs with the long tests only.
pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.services,
    pytest.mark.stress,
    pytest.mark.skipif(SCALE != 10, reason="runs under `make stress` (starts four worker processes)"),
]


def test_the_scale_out_benchmark_yields_every_row() -> None:
    require("Redis")
    results = bench.run(quick=True, n=30, repetitions=1, backlog=60)
    rows = {(result.group, result.name): result for result in results}
    for group in (bench.ENQUEUE, bench.END_TO_END):
        for name in (bench.IN_PROCESS, bench.TASQ_REDIS, bench.PEER_REDIS):
            assert math.isfinite(rows[group, name].ns) and rows[group, name].ns > 0
    for name in (bench.TASQ_REDIS, bench.PEER_REDIS):
        assert "tasks/s" in rows[bench.SUSTAINED, name].note
    assert (bench.ENQUEUE, bench.TASQ_RABBITMQ) in rows  # measured, or skipped with the reason
