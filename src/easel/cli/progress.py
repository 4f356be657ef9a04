"""The CLI's progress bar for a generation: step/total, queue position, elapsed time.

Fed by the client's ``on_progress`` reports (easel's job events); until the
first report, or against a server without events, it is an indeterminate
bar with the elapsed time.
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from easel.client import GenerationProgress


class ProgressBar:
    """A rich progress bar on `console`; call it with each `GenerationProgress`."""

    def __init__(self, console: Console, label: str) -> None:
        self._label = label
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._task = self._progress.add_task(label, total=None, detail="")

    def __enter__(self) -> ProgressBar:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def __call__(self, report: GenerationProgress) -> None:
        if report.status == "queued":
            ahead = report.queue_position
            detail = "queued" if ahead is None else f"queued, {ahead} ahead"
            self._progress.update(self._task, total=None, detail=detail)
        elif report.steps:
            step = report.step or 0
            self._progress.update(
                self._task, total=report.steps, completed=step, detail=f"step {step}/{report.steps}"
            )
        else:
            percent = round(report.progress * 100)
            self._progress.update(self._task, total=100, completed=percent, detail=f"{percent}%")
        self._progress.refresh()
