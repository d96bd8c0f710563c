"""Turning results into what people read: terminal tables, Markdown, a chart."""

from __future__ import annotations

import datetime
import math
import os
import platform
import sys
import textwrap
from collections.abc import Iterable
from pathlib import Path

from benchmarks.common import Result

HEADERS = ("contender", "median", "ratio", "range", "vs", "target", "met", "note")


def groups(results: Iterable[Result]) -> dict[str, list[Result]]:
    grouped: dict[str, list[Result]] = {}
    for result in results:
        grouped.setdefault(result.group, []).append(result)
    return grouped


def cells(result: Result) -> tuple[str, ...]:
    # Per task is the common case, said once in the group's heading; other units in full.
    unit = {"ns/task": "ns", "B/task": "B"}.get(result.unit, result.unit)
    ratio = "" if result.ratio is None else f"{result.ratio:.2f}x"
    spread = "" if result.spread is None else f"{result.spread[0]:.2f}-{result.spread[1]:.2f}"
    met = {None: "", True: "yes", False: "NO"}[result.met]
    median = f"{result.ns:,.0f} {unit}" if math.isfinite(result.ns) else "-"  # NaN: a row that was skipped
    return (result.name, median, ratio, spread, result.baseline or "", result.target, met, result.note)


def text_table(group: str, rows: list[Result]) -> str:
    table = [HEADERS, *(cells(row) for row in rows)]
    widths = [max(len(line[column]) for line in table) for column in range(len(HEADERS))]
    unit = rows[0].unit
    lines = [f"{group}  [{unit}; ratio = median of paired ratios, range = lowest-highest]"]
    for index, line in enumerate(table):
        lines.append("  " + "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
        if index == 0:
            lines.append("  " + "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def print_tables(results: list[Result]) -> None:
    for group, rows in groups(results).items():
        print()
        print(text_table(group, rows))
    print(flush=True)


def markdown_table(rows: list[Result]) -> str:
    lines = [
        "| " + " | ".join(HEADERS) + " |",
        "|" + "|".join(["---", "---:", "---:", "---:", "---", "---", "---", "---"]) + "|",
    ]
    for row in rows:
        name, median, ratio, spread, baseline, target, met, note = cells(row)
        met = {"yes": "✅ yes", "NO": "❌ no"}.get(met, met)
        lines.append(f"| {name} | {median} | {ratio} | {spread} | {baseline} | {target} | {met} | {note} |")
    return "\n".join(lines)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    """Other processes' demand on the cores: above ~1 on 2 cores, expect wider ranges."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def machine(load_at_start: str = "") -> dict[str, str]:
    info = {
        "CPU": cpu_model(),
        "cores": str(os.cpu_count()),
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "OS": f"{platform.system()} {platform.release()}",
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    if load_at_start:
        info["load average (1, 5, 15 min) at the start"] = load_at_start
    info["load average (1, 5, 15 min) at the end"] = load_average()
    return info


def noise(results: list[Result]) -> list[str]:
    """How far apart the repetitions of each ratio were: the run's noise, in a few lines."""
    spreads = sorted(
        ((r.spread[1] / r.spread[0] - 1, r) for r in results if r.spread and r.spread[0] > 0 and r.name != r.baseline),
        key=lambda pair: pair[0],
    )
    if not spreads:
        return []
    typical = spreads[len(spreads) // 2][0]
    lines = [
        f"Over {len(spreads)} rows, the highest of a row's paired ratios is typically {typical:.0%} above "
        "its lowest (the median of that spread over rows). The noisiest rows:",
        "",
    ]
    for width, row in reversed(spreads[-3:]):
        low, high = row.spread or (0.0, 0.0)
        lines.append(f"- {row.group} / {row.name}: {low:.2f}x to {high:.2f}x ({width:.0%} apart)")
    return lines


def markdown(
    results: list[Result],
    failures: list[str],
    elapsed: float,
    command: str,
    about: dict[str, str] | None = None,
    load_at_start: str = "",
) -> str:
    """The whole of docs/benchmarks.md; ``about`` maps each module to what it measures."""
    out = [
        "# Benchmarks",
        "",
        f"Measured by `{command}` ({elapsed:.0f} s). Every group runs its contenders in one",
        "process, alternating between them repetition by repetition; **ratio** is the median of",
        "the per-repetition ratios to the group's baseline (*vs*), and **range** the lowest and",
        "highest of them — how noisy the run was. The machine is shared, so single repetitions",
        "can be off by the range shown; the medians are what the targets are checked against.",
        "",
        "This page is written by `make bench` (`benchmarks/report.py`); it is the one place",
        "where the measured figures are kept, and the rest of the documentation links here.",
        "Per-task costs that wall clocks blur are also counted in instructions, TasQ against its",
        "floor, by `python -m benchmarks.instructions` (callgrind; see its docstring).",
        "",
        "| machine | |",
        "|---|---|",
        *(f"| {key} | {value} |" for key, value in machine(load_at_start).items()),
        "",
    ]
    if about:
        out += ["## What is measured", ""]
        out += [f"- `benchmarks/bench_{name}.py`: {text}" for name, text in about.items()]
        out += [""]
    if failures:
        out += ["## Benchmarks that did not run", "", *(f"- {failure}" for failure in failures), ""]
    for group, rows in groups(results).items():
        out += [f"## {group}", "", markdown_table(rows), ""]
    out += ["## Noise", "", *noise(results), "", "![ratios against targets](benchmarks.png)", ""]
    return "\n".join(out)


def plot(results: list[Result], path: Path) -> None:
    """The groups that have a target: one bar per row's ratio, the target as a red tick."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grouped = [
        (group, [r for r in rows if r.ratio is not None and math.isfinite(r.ratio)])
        for group, rows in groups(results).items()
    ]
    grouped = [(group, rows) for group, rows in grouped if rows and any(r.target for r in rows)]
    heights = [len(rows) + 1.6 for _, rows in grouped]
    fig, axes = plt.subplots(
        len(grouped),
        1,
        figsize=(11, 0.42 * sum(heights) + 1),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    for ax, (group, rows) in zip(axes[:, 0], grouped, strict=True):
        names = [r.name for r in rows]
        ratios = [r.ratio or 0.0 for r in rows]
        colors = ["#2a9d8f" if r.met else "#e76f51" if r.met is False else "#8d99ae" for r in rows]
        positions = range(len(rows))
        ax.barh(positions, ratios, color=colors, height=0.6)
        limits = [_target_ratio(r) for r in rows]
        reach = max([*ratios, *(r.spread[1] for r in rows if r.spread), *(x for x in limits if x)])
        log = reach / max(min(ratios), 1e-9) > 20
        for index, (r, limit) in enumerate(zip(rows, limits, strict=True)):
            if r.spread:
                ax.plot(r.spread, [index, index], color="black", linewidth=1)
            if limit is not None:
                ax.plot([limit, limit], [index - 0.4, index + 0.4], color="#d62828", linewidth=2.5)
            label = f"{r.ratio:.2f}x  ({r.ns:,.0f} {r.unit})"
            ax.text(reach * (1.4 if log else 1.04), index, label, va="center", fontsize=8)
        ax.set_yticks(list(positions), names, fontsize=9)
        ax.invert_yaxis()
        ax.set_xscale("log" if log else "linear")
        ax.set_xlim(right=reach * (12 if log else 1.5))
        ax.set_title(textwrap.fill(group, 105), fontsize=9.5, loc="left")
        ax.set_xlabel(f"ratio to {rows[0].baseline}", fontsize=8)
        ax.axvline(1.0, color="gray", linewidth=0.8, linestyle=":")
    fig.suptitle(
        "TasQ against its targets (green: met, orange: missed, red tick: the target, line: range)", fontsize=11
    )
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.6 / fig.get_figheight()))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _target_ratio(result: Result) -> float | None:
    """The target as a ratio on the row's own scale, when it is one ("<= 1.3x floor")."""
    target = result.target.replace(" ", "")
    if target.startswith("<=") and "x" in target:
        try:
            return float(target[2:].split("x", 1)[0])
        except ValueError:
            return None
    if target.startswith("<=") and result.ratio and result.ns:
        # An absolute limit ("<= 1000 ns", "<= 300 B"): scaled like the row's own ratio.
        try:
            limit = float(target[2:].rstrip("nsB"))
        except ValueError:
            return None
        return limit / result.ns * result.ratio
    return None


def command_line() -> str:
    return " ".join(["python -m benchmarks", *sys.argv[1:]])
