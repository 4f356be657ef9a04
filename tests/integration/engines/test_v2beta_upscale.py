"""v2beta's upscalers: fast (ESRGAN 4x) and the tiled diffusion upscalers."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from easel.engines.base import GenerationRequest, WeightedPrompt
from easel.engines.registry import EngineRegistry
from easel.errors import Cancelled, InvalidRequest
from tests.integration.engines.conftest import noise_image, pixels, png

CONSERVATIVE, CREATIVE = "upscale-conservative", "upscale-creative"


def _upscale(
    width: int,
    height: int,
    *,
    source: Image.Image | None = None,
    seeds: list[int] | None = None,
    steps: int = 4,
    **extras: object,
) -> GenerationRequest:
    return GenerationRequest(
        kind="upscale",
        prompts=[WeightedPrompt("a castle")],
        width=width,
        height=height,
        seeds=seeds or [1],
        steps=steps,
        init_image=source if source is not None else noise_image((48, 40)),
        extras=dict(extras),
    )


def test_fast_is_a_4x_esrgan(registry: EngineRegistry, data_dir: Path) -> None:
    engine = registry.get("upscale-fast")
    (result,) = engine.generate([_upscale(4 * 48, 4 * 40)])
    assert result.images[0].image.size == (192, 160)
    assert (data_dir / "sandbox" / "esrgan-x4" / "model.pth").is_file()
    assert engine.backend._upscaler.scale == 4  # type: ignore[attr-defined]


# 200x168 pads to 256x192: with 128 px tiles (overlap 64) that is 3x2 tiles.
TILED = {"tile_size": 128}


@pytest.mark.parametrize("engine_id", [CONSERVATIVE, CREATIVE])
def test_diffusion_upscalers_give_the_exact_size_deterministically(
    registry: EngineRegistry, engine_id: str
) -> None:
    engine = registry.get(engine_id)
    calls: list[tuple[int, int]] = []
    request = _upscale(200, 168, seeds=[3, 4], creativity=0.5, **TILED)
    (result,) = engine.generate([request], progress=lambda s, t: calls.append((s, t)))
    assert [i.image.size for i in result.images] == [(200, 168)] * 2
    assert [i.seed for i in result.images] == [3, 4]
    # 2 of 4 steps run at strength 0.5, in each of 6 tiles, for 2 samples
    assert calls == [(n, 24) for n in range(1, 25)]
    (again,) = engine.generate([request])
    assert [png(i.image) for i in again.images] == [png(i.image) for i in result.images]
    assert png(result.images[0].image) != png(result.images[1].image)


def test_zero_creativity_is_the_resized_input(registry: EngineRegistry) -> None:
    source = noise_image((48, 40))
    calls: list[int] = []
    (result,) = registry.get(CONSERVATIVE).generate(
        [_upscale(96, 80, source=source, creativity=0.0)], progress=lambda s, t: calls.append(s)
    )
    expected = source.resize((96, 80), Image.Resampling.LANCZOS)
    assert np.array_equal(pixels(result.images[0].image), pixels(expected)) and calls == []


def test_low_creativity_stays_closer_to_the_input(registry: EngineRegistry) -> None:
    source = noise_image((64, 64), seed=9).resize((128, 128), Image.Resampling.LANCZOS)

    def distance(creativity: float) -> float:
        (result,) = registry.get(CONSERVATIVE).generate(
            [_upscale(128, 128, source=source, steps=10, creativity=creativity)]
        )
        return float(np.abs(pixels(result.images[0].image) - pixels(source)).mean())

    assert distance(0.2) < distance(0.9)


def test_cancel_stops_within_one_tile_step(registry: EngineRegistry) -> None:
    cancel = threading.Event()
    calls: list[int] = []

    def progress(step: int, total: int) -> None:
        calls.append(step)
        if step == 3:
            cancel.set()

    with pytest.raises(Cancelled):
        registry.get(CREATIVE).generate(
            [_upscale(200, 168, creativity=0.5, **TILED)], progress=progress, cancel=cancel
        )
    assert calls == [1, 2, 3]


@pytest.mark.parametrize("extras", [{"creativity": 1.5}, {"creativity": "high"}, {"tile_size": 32}])
def test_bad_knobs_are_invalid(registry: EngineRegistry, extras: dict) -> None:
    with pytest.raises(InvalidRequest):
        registry.get(CREATIVE).generate([_upscale(96, 80, **extras)])
