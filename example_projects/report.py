"""What the demos print: rich progress bars and tables on a terminal, plain lines elsewhere.

In a pipe or a file (`make demo | cat`, CI logs) nothing is redrawn: each bar becomes one
line when it ends, and rich writes no colour or cursor codes, so a log has no carriage return.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType

from rich.console import Console
from rich.padding import Padding
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

# soft_wrap: a long line (a server command) stays one line in a log rather than wrapping at 80.
console = Console(highlight=False, soft_wrap=True)


def heading(text: str) -> None:
    console.print()
    console.print(f"== {text}", style="bold", markup=False)


def line(text: str) -> None:
    console.print(f"  {text}", markup=False)


def percentile(values: Sequence[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Bar:
    """One progress bar: ``with Bar("tasks", total) as bar: bar.update(finished, detail=...)``."""

    def __init__(self, label: str, total: int) -> None:
        self.label = label
        self.total = total
        self.finished = 0
        self.detail = ""
        self._progress: Progress | None = None
        self._task = 0

    def __enter__(self) -> Bar:
        if console.is_terminal:
            self._progress = Progress(
                TextColumn("  {task.description:<22}"),
                BarColumn(bar_width=40),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[detail]}"),
                console=console,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=self.total, detail="")
        return self

    def update(self, finished: int, total: int | None = None, detail: str = "") -> None:
        self.finished, self.detail = finished, detail
        if total is not None:
            self.total = total
        if self._progress is not None:
            self._progress.update(self._task, completed=finished, total=self.total, detail=detail)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.refresh()
            self._progress.stop()
        else:
            line(f"{self.label}: {self.finished:,}/{self.total:,} {self.detail}".rstrip())


def table(title: str, rows: Sequence[tuple[str, str]]) -> None:
    summary = Table(show_header=False, box=None, padding=(0, 2), pad_edge=False)
    summary.add_column("measure")
    summary.add_column("value", justify="right")
    for name, value in rows:
        summary.add_row(name, value)
    console.print()
    console.print(f"  {title}", style="bold", markup=False)
    console.print(Padding(summary, (0, 0, 0, 4), expand=False))
    console.print()
