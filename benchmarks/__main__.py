"""``make bench``: run every ``benchmarks/bench_*.py``, print the tables, write the docs.

    python -m benchmarks [--quick] [--only NAME[,NAME...]] [--write-docs | --no-docs]

A full run (no ``--quick``, no ``--only``) writes docs/benchmarks.md and
docs/benchmarks.png. A module that fails to import or to run is reported, in the output
and in the docs, and makes the command exit with status 1: nothing is skipped quietly.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time
import traceback
from pathlib import Path

import benchmarks
from benchmarks.common import Result
from benchmarks.report import command_line, markdown, plot, print_tables

DOCS = Path(__file__).resolve().parent.parent / "docs"


def discover() -> list[str]:
    return sorted(
        info.name.removeprefix("bench_")
        for info in pkgutil.iter_modules(benchmarks.__path__)
        if info.name.startswith("bench_")
    )


def loud(what: str) -> None:
    bar = "!" * 78
    print(f"\n{bar}\n{what}\n{bar}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small N, few repetitions: a smoke run")
    parser.add_argument("--only", help="comma-separated module names, e.g. engine or bench_flask")
    docs = parser.add_mutually_exclusive_group()
    docs.add_argument("--write-docs", action="store_true", help="write docs/ even for a partial or quick run")
    docs.add_argument("--no-docs", action="store_true", help="do not write docs/")
    args = parser.parse_args(argv)

    names = discover()
    if args.only:
        wanted = [name.strip().removeprefix("bench_").removesuffix(".py") for name in args.only.split(",")]
        unknown = [name for name in wanted if name not in names]
        if unknown:
            parser.error(f"no benchmarks/bench_{unknown[0]}.py (there are: {', '.join(names)})")
        names = wanted
    print(f"benchmarks: {', '.join(names)}{' (quick)' if args.quick else ''}", flush=True)

    started = time.perf_counter()
    results: list[Result] = []
    failures: list[str] = []
    for name in names:
        module_name = f"benchmarks.bench_{name}"
        try:
            module = importlib.import_module(module_name)
        except BaseException as error:
            if isinstance(error, KeyboardInterrupt):
                raise
            loud(f"FAILED TO IMPORT {module_name}:\n{traceback.format_exc().rstrip()}")
            failures.append(f"`{module_name}` failed to import: {type(error).__name__}: {error}")
            continue
        run = getattr(module, "run", None)
        if not callable(run):
            loud(f"{module_name} has no run(quick) function")
            failures.append(f"`{module_name}` has no `run(quick)` function")
            continue
        print(f"\n== {module_name} ...", flush=True)
        module_started = time.perf_counter()
        try:
            rows = list(run(args.quick))
        except BaseException as error:
            if isinstance(error, KeyboardInterrupt):
                raise
            loud(f"FAILED: {module_name}.run():\n{traceback.format_exc().rstrip()}")
            failures.append(f"`{module_name}.run()` raised {type(error).__name__}: {error}")
            continue
        print(f"== {module_name}: {len(rows)} rows in {time.perf_counter() - module_started:.1f} s", flush=True)
        print_tables(rows)
        results.extend(rows)
    elapsed = time.perf_counter() - started

    partial = args.quick or bool(args.only)
    if args.write_docs or not (partial or args.no_docs):
        DOCS.mkdir(exist_ok=True)
        (DOCS / "benchmarks.md").write_text(markdown(results, failures, elapsed, command_line()), encoding="utf-8")
        plot(results, DOCS / "benchmarks.png")
        print(f"wrote {DOCS / 'benchmarks.md'} and {DOCS / 'benchmarks.png'}")
    missed = [f"{r.group}: {r.name} ({r.target})" for r in results if r.met is False]
    if missed:
        print("targets missed:\n  " + "\n  ".join(missed))
    if failures:
        loud("BENCHMARKS THAT DID NOT RUN:\n  " + "\n  ".join(failures))
        return 1
    print(f"all benchmarks ran in {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
