"""replace-background-and-relight on its tiny models (U²-Net cut-out, SD inpainting), and
the same engine configured for real weights (`backend = "diffusers"`) from local files."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from easel.engines.base import EngineSpec, GenerationRequest
from easel.engines.registry import EngineRegistry
from easel.engines.tiny import ensure_tiny_model
from easel.errors import Cancelled
from easel.generation.relight import ReplaceBackgroundAndRelight
from tests.integration.engines.conftest import noise_image, pixels, png

ENGINE_ID = "stable-image-replace-background-and-relight"
SIZE = (96, 80)


def relight_request(
    registry: EngineRegistry, subject: Image.Image, **fields: Any
) -> GenerationRequest:
    spec = registry.spec(ENGINE_ID)
    op = ReplaceBackgroundAndRelight(subject_image=subject, seed=4, **fields)
    resolved = op.for_engine(spec).with_seeds()
    assert isinstance(resolved, ReplaceBackgroundAndRelight)
    return resolved.to_engine()


def test_a_painted_background_keeps_the_solid_subject_and_repeats_with_its_seed(
    registry: EngineRegistry,
) -> None:
    subject = noise_image(SIZE, seed=3)
    engine = registry.get(ENGINE_ID)
    work = relight_request(
        registry,
        subject,
        background_prompt="a beach",
        light_source_direction="right",
        preserve_original_subject=1.0,
    )
    reports: list[tuple[int, int]] = []
    (result,) = engine.generate([work], progress=lambda s, t: reports.append((s, t)))
    out = result.image_outputs()[0].image
    assert (out.size, result.images[0].seed) == (SIZE, work.seeds[0])
    assert reports[-1][0] == reports[-1][1] == 2 + work.steps
    assert [s for s, _ in reports] == sorted(s for s, _ in reports)
    # the tiny U²-Net's cut-out: where it is solid, the subject's own pixels
    alpha = pixels(engine.backend.segmenter.alpha(subject))[..., 0]  # type: ignore[attr-defined]
    solid = alpha == 255
    assert solid.any() and (alpha == 0).any()
    assert np.array_equal(pixels(out)[solid], pixels(subject)[solid])
    assert np.abs(pixels(out)[alpha == 0] - pixels(subject)[alpha == 0]).mean() > 10
    (again,) = engine.generate([work])
    assert png(again.image_outputs()[0].image) == png(out)


def test_a_flat_grey_subject_lit_from_the_left_is_brighter_on_the_left(
    registry: EngineRegistry,
) -> None:
    grey = Image.new("RGB", SIZE, (128, 128, 128))
    work = relight_request(
        registry,
        grey,
        background_prompt="a grey room",
        keep_original_background=True,
        light_source_direction="left",
        light_source_strength=0.6,
        preserve_original_subject=0.0,
    )
    (result,) = registry.get(ENGINE_ID).generate([work])
    brightness = pixels(result.image_outputs()[0].image).mean(axis=2)
    assert brightness[:, :24].mean() > 140 > 116 > brightness[:, -24:].mean()


def test_cancel_stops_the_painting(registry: EngineRegistry) -> None:
    cancel = threading.Event()
    work = relight_request(registry, noise_image(SIZE, seed=5), background_prompt="x")
    with pytest.raises(Cancelled):
        registry.get(ENGINE_ID).generate(
            [work], cancel=cancel, progress=lambda step, total: cancel.set()
        )


def test_real_weights_from_local_files_run_the_same_code(
    tmp_path: Path, registry: EngineRegistry, tiny_inpaint_model: Path
) -> None:
    u2net = ensure_tiny_model("u2net", registry.models_dir)
    spec = EngineSpec.model_validate(
        {
            **registry.spec(ENGINE_ID).model_dump(),
            "backend": "diffusers",
            "model": str(tiny_inpaint_model),
            "mask_model": str(u2net),
        }
    )
    real = EngineRegistry([spec], data_dir=tmp_path, device="cpu", dtype="float32")
    work = relight_request(registry, noise_image(SIZE, seed=6), background_prompt="a field")
    (from_files,) = real.get(ENGINE_ID).generate([work])
    (sandbox,) = registry.get(ENGINE_ID).generate([work])
    assert png(from_files.image_outputs()[0].image) == png(sandbox.image_outputs()[0].image)
    assert not (tmp_path / "sandbox").exists()  # nothing was built
