"""Progress bar and summary table shared by the demos (plain text, no dependencies)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence


def percentile(values: Sequence[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def progress(label: str, finished: int, total: int, detail: str = "") -> None:
    """Redraw one progress line in place."""
    width = max(10, min(40, shutil.get_terminal_size((80, 20)).columns - 60))
    filled = width if total == 0 else int(width * min(finished, total) / total)
    line = f"\r  {label:<28} [{'#' * filled}{'.' * (width - filled)}] {finished:>6}/{total:<6} {detail}"
    sys.stdout.write(line)
    sys.stdout.flush()


def end_progress() -> None:
    sys.stdout.write("\n")
    sys.stdout.flush()


def table(title: str, rows: Sequence[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in rows)
    print(f"\n  {title}")
    print("  " + "-" * (width + 18))
    for name, value in rows:
        print(f"  {name:<{width}}  {value:>14}")
    print()
