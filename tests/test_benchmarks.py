"""The benchmarks still run: every module imports, and the engine's at its smallest size
yields every row with finite, positive figures. Never a check of speed."""

from __future__ import annotations

import importlib
import inspect
import math

import pytest

from benchmarks import bench_engine, bench_seed, engine_trials, engine_waits, instructions
from benchmarks.__main__ import discover
from benchmarks.common import Result
from benchmarks.report import markdown, text_table

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("name", discover())
def test_each_benchmark_module_imports_and_has_run(name: str) -> None:
    module = importlib.import_module(f"benchmarks.bench_{name}")
    assert callable(module.run)
    signature = inspect.signature(module.run)
    assert next(iter(signature.parameters)) == "quick"
    signature.bind(True)  # python -m benchmarks calls run(quick): nothing else is required
    assert (module.__doc__ or "").strip(), "the first paragraph of its docstring heads its tables"


@pytest.mark.parametrize("name", instructions.NAMES)
def test_each_instruction_count_trial_runs_as_valgrind_would_run_it(name: str) -> None:
    sides = instructions.sides(name)
    assert list(sides)[:2] == ["tasq", "floor"]
    for make in sides.values():
        assert make(50)() > 0  # seconds for the 50 tasks, every callback counted down


def test_engine_benchmark_yields_every_row() -> None:
    results = bench_engine.run(quick=True, n=300, repetitions=2)
    assert all(isinstance(result, Result) for result in results)
    groups: dict[str, set[str]] = {}
    for result in results:
        groups.setdefault(result.group.split(" (N=")[0], set()).add(result.name)
        assert math.isfinite(result.ns)
        assert result.ns > 0
        assert result.ratio is not None
        assert math.isfinite(result.ratio)
        assert result.ratio > 0
    contenders = {engine_trials.FLOOR, engine_trials.TASQ, engine_trials.TPE}
    assert contenders | {engine_trials.TASQ_RESULTS} <= groups[bench_engine.END_TO_END]
    assert contenders | {engine_trials.TASQ_RESULTS} <= groups[bench_engine.ENQUEUE]
    assert contenders | {engine_waits.TASQ_QUIET} <= groups[engine_waits.RETRY]
    assert contenders | {engine_waits.IDEAL} <= groups[engine_waits.SLEEP.format(16)]
    assert contenders | {engine_waits.IDEAL} <= groups[engine_waits.SLEEP.format(64)]
    assert contenders | {engine_trials.TASQ_RESULTS} <= groups[bench_engine.MEMORY]
    harness = bench_engine.HARNESS.format(bench_engine.HARNESS_WORKERS)
    recording = {engine_trials.TASQ_RESULTS, engine_trials.FLOOR_RECORDING}
    assert {engine_trials.FLOOR, engine_trials.TASQ} | recording <= groups[harness]
    targets = [result for result in results if result.target]
    assert len(targets) == 8, [(result.group, result.name) for result in targets]
    assert all(result.met is not None for result in targets)
    assert "## end to end" in markdown(results, [], 1.0, "python -m benchmarks")
    assert text_table("group", results[:2]).count("\n") == 4


def test_seed_benchmark_yields_its_three_groups() -> None:
    results = bench_seed.run(quick=True, n=200, repetitions=2)
    groups: dict[str, set[str]] = {}
    for result in results:
        groups.setdefault(result.group.split(":")[0], set()).add(result.name)
        assert math.isfinite(result.ns)
        assert result.ns > 0
    contenders = {bench_seed.FLOOR, bench_seed.TASQ, bench_seed.TASQ_LOGGING, bench_seed.TPE}
    assert groups["seed benchmark SuccessDone"] == contenders
    assert groups["seed benchmark CustomErrorDone"] == contenders | {bench_seed.LOGGING_ALONE}
    assert groups["seed benchmark RetryError3"] == contenders | {bench_seed.LOGGING_ALONE}
    targets = [result for result in results if result.target]
    assert len(targets) == 3
    assert all(result.met is not None for result in targets)


def test_a_module_that_fails_to_import_is_reported_loudly(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    import benchmarks.__main__ as bench_main

    monkeypatch.setattr(bench_main, "discover", lambda: ["does_not_exist"])
    assert bench_main.main(["--quick", "--no-docs"]) == 1
    err = capfd.readouterr().err
    assert "FAILED TO IMPORT benchmarks.bench_does_not_exist" in err  # the child's traceback
    assert "ModuleNotFoundError" in err
    assert "BENCHMARKS THAT DID NOT RUN" in err


@pytest.mark.timeout(180)
def test_store_benchmark_yields_every_row_with_its_peers() -> None:
    from benchmarks import bench_store

    results = bench_store.run(quick=True, n=160, repetitions=1)
    names = {result.name for result in results}
    assert {bench_store.RAW, bench_store.JOURNAL, bench_store.JOURNAL_GROUP, bench_store.JOURNAL_WRITER} <= names
    assert {bench_store.JOURNAL_MANY, bench_store.JOURNAL_DRAIN, bench_store.JOURNAL_E2E} <= names
    assert {bench_store.HUEY, bench_store.PERSIST, bench_store.DJANGO} <= names
    assert all(math.isfinite(result.ns) and result.ns > 0 for result in results)
    assert [result.met is not None for result in results if result.target] == [True, True]


@pytest.mark.timeout(240)
def test_store_engine_benchmark_yields_every_group_with_its_peers() -> None:
    from benchmarks import bench_store_engine as bench

    results = bench.run(quick=True, n=160, repetitions=1)
    groups: dict[str, set[str]] = {}
    for result in results:
        groups.setdefault(result.group.split(" (N=")[0], set()).add(result.name)
        assert math.isfinite(result.ns)
        assert result.ns > 0
    store = {bench.NORMAL, bench.FULL}
    assert groups[bench.END_TO_END] == store | {bench.MEMORY, bench.RAW_E2E, bench.HUEY, bench.PERSIST, bench.DJANGO}
    assert groups[bench.MANY] == store | {bench.MEMORY, bench.RAW_100}
    peers = {bench.HUEY_ENQUEUE, bench.PERSIST_PUT}
    assert groups[bench.ONE] == groups[bench.EIGHT] == store | peers | {bench.MEMORY, bench.RAW}
    assert groups[bench.FIRST] == groups[bench.RECOVERY] == store
    targets = [result for result in results if result.target]
    assert len(targets) == 5, [(result.group, result.name) for result in targets]
    assert all(result.met is not None for result in targets)
