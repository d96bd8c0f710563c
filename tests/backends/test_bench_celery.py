"""The Celery benchmark still runs and yields every row (never a check of speed)."""

from __future__ import annotations

import math

import pytest

from benchmarks import bench_celery as bench
from tests.conftest import SCALE
from tests.services import require

# Seven worker processes start and stop: it runs with the long tests only.
pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.services,
    pytest.mark.stress,
    pytest.mark.skipif(SCALE != 10, reason="runs under `make stress` (starts seven worker processes)"),
]


def test_the_celery_benchmark_yields_every_row() -> None:
    require("Redis")
    results = bench.run(quick=True, n=30, repetitions=1, backlog=60)
    rows = {(result.group, result.name): result for result in results}
    for group in (bench.ENQUEUE, bench.END_TO_END):
        for name in (bench.TASQ_REDIS, bench.PEER_REDIS):
            assert math.isfinite(rows[group, name].ns) and rows[group, name].ns > 0
    for name in (bench.TASQ_REDIS, bench.PEER_REDIS, bench.PEER_DEFAULTS):
        assert "tasks/s" in rows[bench.SUSTAINED, name].note
    assert rows[bench.ENQUEUE, bench.TASQ_REDIS].target and rows[bench.SUSTAINED, bench.TASQ_REDIS].target
