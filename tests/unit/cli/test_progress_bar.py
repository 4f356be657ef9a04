"""The CLI's generation progress bar, rendered on a fake terminal."""

from __future__ import annotations

import io

from rich.console import Console

from easel.cli.progress import ProgressBar
from easel.client import GenerationProgress


def report(status: str, **fields: object) -> GenerationProgress:
    values: dict[str, object] = {
        "generation_id": "gen-1",
        "status": status,
        "progress": 0.0,
        "step": None,
        "steps": None,
        "queue_position": None,
        "elapsed": 0.0,
    }
    values.update(fields)
    return GenerationProgress(**values)  # type: ignore[arg-type]


def render(*reports: GenerationProgress) -> str:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    with ProgressBar(console, "Generating") as bar:
        for item in reports:
            bar(item)
    return out.getvalue()


def test_shows_queue_position_then_step_of_total_and_elapsed_time():
    shown = render(
        report("queued", queue_position=2),
        report("running", progress=0.25, step=5, steps=20),
    )

    assert "Generating" in shown
    assert "queued, 2 ahead" in shown
    assert "step 5/20" in shown
    assert "0:00:00" in shown  # elapsed


def test_without_a_step_count_shows_percent():
    assert "40%" in render(report("running", progress=0.4))
