"""Instructions per task under callgrind: TasQ against its floor, counted rather than timed.

    python -m benchmarks.instructions RetryError3 [NAME ...] [--small 2000] [--large 12000]
                                      [--repeat 1] [--jobs 1] [--keep DIR]
    python -m benchmarks.instructions all --repeat 3 --jobs 2

Each named benchmark runs under ``valgrind --tool=callgrind`` for TasQ and for its floor,
each at ``--small`` and ``--large`` tasks; a side's instructions per task is
``(Ir(large) - Ir(small)) / (large - small)``, so that start-up, imports and teardown
cancel. Wall clocks on a shared two-core machine drift; instruction counts do not, but the
threads' interleaving still moves them (how long the queue gets decides how much the
garbage collector traverses): a few percent from one run to the next. ``--repeat R`` runs
each size R times and reports the median per-task figure and the range. A run of one
benchmark takes about a minute per repetition.

``--keep DIR`` keeps the callgrind files (``DIR/RetryError3-tasq-12000-1.out`` ...) for
``callgrind_annotate --inclusive=yes DIR/RetryError3-tasq-12000-1.out``, which shows where
the instructions go; ``--jobs 2`` runs two valgrinds at a time.

The names, each the end-to-end trial of the benchmark module it comes from:

- ``SuccessDone``, ``CustomErrorDone``, ``RetryError3``: benchmarks/bench_seed.py, ``Task``
  objects, 10 workers, the ``tasq`` logger at CRITICAL, against benchmarks/seed_floor.py;
- ``noop``: benchmarks/bench_engine.py (its trials are in benchmarks/engine_trials.py), a
  no-op function, TasQ's defaults, against benchmarks/floor.py;
- ``results``: the same with ``results=10_000``, against benchmarks/floor.py, and beside it
  the floor with a record per task (three clock reads and a dict write: the least a
  result store can cost). Run with ``noop``, the bound of ``results`` is printed too: the
  floor with a record per task plus what TasQ adds to the floor without a store.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks import bench_seed
from benchmarks.common import ROOT, Trial
from benchmarks.engine_trials import end_to_end, floor_pool, recording_floor_pool, tasq_pool

SEED = {name: kind for name, kind, _ in bench_seed.BENCHMARKS}
TARGETS = {
    **{name: target for name, _, target in bench_seed.BENCHMARKS},
    "noop": 1.3,
    "results": 2.0,
}
NAMES = [*SEED, "noop", "results"]


def sides(name: str) -> dict[str, Callable[[int], Trial]]:
    """The benchmark's sides (TasQ first, then its floor): each makes the trial of ``n`` tasks."""
    if name in SEED:
        kind = SEED[name]
        return {
            "tasq": lambda n: bench_seed._end_to_end(bench_seed._tasq, kind, n, logging.CRITICAL),
            "floor": lambda n: bench_seed._end_to_end(bench_seed._floor, kind, n),
        }
    if name == "noop":
        return {
            "tasq": lambda n: end_to_end(tasq_pool(), n),
            "floor": lambda n: end_to_end(floor_pool, n),
        }
    if name == "results":
        return {
            "tasq": lambda n: end_to_end(tasq_pool(results=10_000), n),
            "floor": lambda n: end_to_end(floor_pool, n),
            "floor+record": lambda n: end_to_end(recording_floor_pool, n),
        }
    raise ValueError(f"unknown benchmark {name!r}: one of {', '.join(NAMES)}, or all")


def child(name: str, side: str, n: int) -> None:
    """One trial in this process (the one valgrind runs)."""
    sides(name)[side](n)()


_TOTAL = re.compile(rb"^(?:summary|totals):\s*(\d+)", re.MULTILINE)


def instructions(name: str, side: str, n: int, repetition: int, keep: Path) -> int:
    """Ir of a whole process running one trial of ``n`` tasks, under callgrind."""
    out = keep / f"{name}-{side}-{n}-{repetition}.out"
    command = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        sys.executable,
        "-m",
        "benchmarks.instructions",
        "--child",
        name,
        side,
        str(n),
    ]
    env = dict(os.environ, PYTHONHASHSEED="0")
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr.decode(errors='replace')[-3000:]}")
    found = _TOTAL.search(out.read_bytes())
    if found is None:
        raise RuntimeError(f"no instruction total in {out}")
    return int(found.group(1))


def results_bound(medians: dict[tuple[str, str], float]) -> str:
    """The least ``results`` can count: the floor with a record per task, plus what TasQ adds
    to the floor without a store (``noop``); as a ratio to the ``results`` run's floor."""
    own = medians["noop", "tasq"] - medians["noop", "floor"]
    bound = medians["results", "floor+record"] + own
    return (
        f"results bound: floor+record + (noop tasq - noop floor) = {bound:,.0f} Ir/task,"
        f" {bound / medians['results', 'floor']:.2f}x floor"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"{', '.join(NAMES)}, or all (the default)")
    parser.add_argument("--small", type=int, default=2_000)
    parser.add_argument("--large", type=int, default=12_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each size; the median is reported")
    parser.add_argument("--jobs", type=int, default=1, help="valgrind runs at a time")
    parser.add_argument("--keep", type=Path, help="keep the callgrind files here")
    parser.add_argument("--child", nargs=3, metavar=("NAME", "SIDE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        name, side, n = args.child
        child(name, side, int(n))
        return 0
    names = NAMES if not args.names or "all" in args.names else args.names
    unknown = [name for name in names if name not in NAMES]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}: one of {', '.join(NAMES)}, or all")
    if not 0 < args.small < args.large:
        parser.error("--small must be above 0 and below --large")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not installed (apt-get install valgrind)")
    keep = args.keep or Path(tempfile.mkdtemp(prefix="tasq-callgrind-"))
    keep.mkdir(parents=True, exist_ok=True)
    repetitions = range(1, args.repeat + 1)
    sizes = (args.small, args.large)
    runs = [(name, side, n, r) for r in repetitions for name in names for side in sides(name) for n in sizes]
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        counted = dict(zip(runs, pool.map(lambda run: instructions(*run, keep), runs), strict=True))
    span = args.large - args.small
    print(f"instructions per task, (Ir(N={args.large:,}) - Ir(N={args.small:,})) / {span:,}; files in {keep}")
    print(f"{'benchmark':<16} {'side':<13} {'Ir/task':>10} {'range':>15} {'x floor':>8}  target")
    medians: dict[tuple[str, str], float] = {}
    for name in names:
        per: dict[str, list[float]] = {side: [] for side in sides(name)}
        for side, values in per.items():
            for r in repetitions:
                values.append((counted[name, side, args.large, r] - counted[name, side, args.small, r]) / span)
        floor = statistics.median(per["floor"])
        for side, values in per.items():
            value = medians[name, side] = statistics.median(values)
            ratio = value / floor
            spread = f"{min(values):,.0f}-{max(values):,.0f}"
            target = ""
            if side == "tasq":
                target = f"<= {TARGETS[name]}x " + ("met" if ratio <= TARGETS[name] else "MISSED")
            print(f"{name:<16} {side:<13} {value:>10,.0f} {spread:>15} {ratio:>7.2f}x  {target}")
    if "results" in names and "noop" in names:
        print(results_bound(medians))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
