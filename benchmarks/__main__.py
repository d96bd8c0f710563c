"""``make bench``: run every ``benchmarks/bench_*.py``, print the tables, write the docs.

    python -m benchmarks [--quick] [--only NAME[,NAME...]] [--timeout S] [--write-docs | --no-docs]

Each module runs in a child process of its own, within ``--timeout`` seconds. A full run
(no ``--quick``, no ``--only``) writes docs/benchmarks.md and docs/benchmarks.png. A module
that fails to import, fails or hangs is reported, in the output and in the docs, and makes
the command exit with status 1: nothing is skipped quietly.
"""

from __future__ import annotations

import argparse
import dataclasses
import faulthandler
import importlib
import json
import os
import pkgutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import benchmarks
from benchmarks.common import Result
from benchmarks.report import command_line, load_average, markdown, plot, print_tables

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
IMPORT_FAILED = 3  # a child's exit status when its module did not import


def discover() -> list[str]:
    """Every ``bench_*`` module's name, the engine's first: its tables head docs/benchmarks.md."""
    names = sorted(
        info.name.removeprefix("bench_")
        for info in pkgutil.iter_modules(benchmarks.__path__)
        if info.name.startswith("bench_")
    )
    return sorted(names, key=lambda name: name != "engine")


def loud(what: str) -> None:
    bar = "!" * 78
    print(f"\n{bar}\n{what}\n{bar}", file=sys.stderr, flush=True)


def child(name: str, quick: bool, out: Path, timeout: float) -> int:
    """Run one module in this process: print its tables, write its rows as JSON to ``out``."""
    # Just before the parent stops a module that hangs, every thread's stack says where.
    faulthandler.dump_traceback_later(max(1.0, timeout - 3.0), exit=False)
    module_name = f"benchmarks.bench_{name}"
    try:
        module = importlib.import_module(module_name)
    except Exception:
        loud(f"FAILED TO IMPORT {module_name}:\n{traceback.format_exc().rstrip()}")
        return IMPORT_FAILED
    about = " ".join((module.__doc__ or "").strip().split("\n\n")[0].split())
    started = time.perf_counter()
    rows = list(module.run(quick))
    print(f"== {module_name}: {len(rows)} rows in {time.perf_counter() - started:.1f} s", flush=True)
    print_tables(rows)
    out.write_text(json.dumps({"about": about, "rows": [dataclasses.asdict(row) for row in rows]}), encoding="utf-8")
    return 0


def run_isolated(name: str, quick: bool, timeout: float) -> tuple[list[Result], str, str | None]:
    """One module in a child process, so that a crash, a hang or a module's global set-up
    (Django settings, say) stays there: (rows, what it measures, why it failed or None)."""
    module_name = f"benchmarks.bench_{name}"
    print(f"\n== {module_name} ...", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rows.json"
        command = [sys.executable, "-m", "benchmarks", "--child", name, "--json", str(out), "--timeout", str(timeout)]
        # A session of its own, so that a stop also ends what the module started (servers).
        with subprocess.Popen([*command, *(["--quick"] if quick else [])], cwd=ROOT, start_new_session=True) as proc:
            try:
                status = proc.wait(timeout)
            except BaseException as error:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                if isinstance(error, subprocess.TimeoutExpired):
                    return [], "", f"`{module_name}` did not finish within {timeout:.0f} s (stopped)"
                raise
        if status == IMPORT_FAILED:
            return [], "", f"`{module_name}` failed to import (traceback above)"
        if status != 0 or not out.exists():
            return [], "", f"`{module_name}` failed with exit status {status} (traceback above)"
        data = json.loads(out.read_text(encoding="utf-8"))
    rows = [Result(**{**row, "spread": tuple(row["spread"]) if row["spread"] else None}) for row in data["rows"]]
    return rows, data["about"], None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small N, few repetitions: a smoke run")
    parser.add_argument("--only", help="comma-separated module names, e.g. engine or bench_flask")
    parser.add_argument("--timeout", type=float, help="seconds each module may take (default 900; 300 with --quick)")
    docs = parser.add_mutually_exclusive_group()
    docs.add_argument("--write-docs", action="store_true", help="write docs/ even for a partial or quick run")
    docs.add_argument("--no-docs", action="store_true", help="do not write docs/")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.quick, args.json, args.timeout or 900.0)

    # A stopped run stops the module running in its child too (see run_isolated).
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        return run_all(args, parser)
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_all(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    names = discover()
    if args.only:
        wanted = [name.strip().removeprefix("bench_").removesuffix(".py") for name in args.only.split(",")]
        unknown = [name for name in wanted if name not in names]
        if unknown:
            parser.error(f"no benchmarks/bench_{unknown[0]}.py (there are: {', '.join(names)})")
        names = wanted
    timeout = args.timeout or (300.0 if args.quick else 900.0)
    print(f"benchmarks: {', '.join(names)}{' (quick)' if args.quick else ''}; {os.cpu_count()} cores", flush=True)

    started, load_at_start = time.perf_counter(), load_average()
    results: list[Result] = []
    failures: list[str] = []
    about: dict[str, str] = {}
    for name in names:
        rows, text, failure = run_isolated(name, args.quick, timeout)
        if failure:
            loud(f"FAILED: {failure}")
            failures.append(failure)
            continue
        about[name] = text
        results.extend(rows)
    elapsed = time.perf_counter() - started

    partial = args.quick or bool(args.only)
    if args.write_docs or not (partial or args.no_docs):
        DOCS.mkdir(exist_ok=True)
        (DOCS / "benchmarks.md").write_text(
            markdown(results, failures, elapsed, command_line(), about, load_at_start), encoding="utf-8"
        )
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
