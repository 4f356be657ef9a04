"""bench/gpu.py keeps working: its --tiny run on CPU, and its real-size model configs.

The GPU figures themselves need a CUDA machine (bench/README.md); this test
runs the same code on the tiny models so the benchmark never rots.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).parents[2] / "bench"
SRC = Path(__file__).parents[2] / "src"


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def test_tiny_run_writes_a_complete_report(tmp_path: Path, shared_models_dir: Path) -> None:
    report, figures_path = tmp_path / "gpu.md", tmp_path / "gpu.json"
    path = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    argv = [sys.executable, str(BENCH / "gpu.py"), "--tiny", "--archs", "sd15"]
    argv += ["--models-dir", str(shared_models_dir / "sandbox")]
    argv += ["--output", str(report), "--json", str(figures_path)]
    done = subprocess.run(argv, cwd=BENCH, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    figures = json.loads(figures_path.read_text())
    assert figures["mode"] == "tiny" and figures["machine"]["gpu"] == "none (CPU run)"
    sd15 = figures["archs"]["sd15"]
    assert sd15["parameters"] > 0 and sd15["steps"] == 10
    for side in ("diffusers", "engine"):
        assert set(sd15[side]["batches"]) == {"1", "2"}
        for batch in sd15[side]["batches"].values():
            assert all(_positive(batch[k]) for k in ("seconds", "its", "s_per_image")), batch
    engine = sd15["engine"]
    assert _positive(engine["load_s"]) and _positive(engine["first_call_s"])
    assert engine["plan"]["compile"] == "off" and engine["plan"]["channels_last"] is False
    http = sd15["http"]
    for key in ("first_image_s", "single_s", "images_per_s", "single_ratio", "load_ratio"):
        assert _positive(http[key]), key
    assert http["clients"] == 16 and http["first_image_from"] == "server start"
    assert _positive(http["server_rss_mib"]) and http["server_gpu_gib"] is None
    assert len(figures["targets"]) == 5
    assert all(row["measured"] is None and row["met"] is None for row in figures["targets"])

    text = report.read_text()
    for heading in (
        "## Targets (issue 13): not yet measured on a GPU",
        "## Machine",
        "## Settings",
        "### Direct: plain diffusers vs easel's engine call",
        "### easel over HTTP",
        "### Memory",
        "## Method",
    ):
        assert heading in text
    targets = text.split("## Targets", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in targets.splitlines() if line.startswith("| SD")]
    assert len(rows) == 5 and all("not yet measured on a GPU" in row for row in rows)


# The published parameter counts of the real models (runwayml/stable-diffusion-v1-5,
# stabilityai/stable-diffusion-xl-base-1.0).
REAL_SIZES = {
    "sd15 unet": 859_520_964,
    "sdxl unet": 2_567_463_684,
    "vae": 83_653_863,
    "clip-l": 123_060_480,
    "clip-bigG": 694_659_840,
}


def test_real_size_configs_have_the_real_models_parameter_counts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel

    monkeypatch.syspath_prepend(str(BENCH))
    import gpu_models as gm

    def count(module: torch.nn.Module) -> int:
        return sum(p.numel() for p in module.parameters())

    with torch.device("meta"):  # shapes only: no memory, no time
        built = {
            "sd15 unet": UNet2DConditionModel(**gm.SD15_UNET),
            "sdxl unet": UNet2DConditionModel(**gm.SDXL_UNET),
            "vae": AutoencoderKL(**gm.SDXL_VAE),
            "clip-l": gm.text_encoder(gm.CLIP_L, projection=False),
            "clip-bigG": gm.text_encoder(gm.CLIP_BIG_G, projection=True),
        }
    assert {name: count(module) for name, module in built.items()} == REAL_SIZES
    assert gm.SDXL_VAE["force_upcast"] is True  # what the fast path's VAE dtype reacts to
