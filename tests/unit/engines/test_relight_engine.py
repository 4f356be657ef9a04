"""The relight engine's own work on stand-in models (a box cut-out, a fake painter): which
background it paints or takes, from what, and how the subject and the light come back."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageOps

from easel.engines.backends.diffusers import DiffusersEngine
from easel.engines.backends.relight import (
    DEPTH_KEEP,
    REFERENCE_STRENGTH,
    RelightEngine,
    painter_spec,
)
from easel.engines.backends.segment import SegmentEngine
from easel.engines.base import EngineSpec, GenerationRequest
from easel.engines.catalog import default_engines
from easel.engines.registry import EngineRegistry
from easel.errors import Cancelled, InvalidRequest
from easel.generation.relight import ReplaceBackgroundAndRelight
from tests.fakes import BoxCutout, FakeEngine, box_alpha, noise

ENGINE_ID = "stable-image-replace-background-and-relight"
SPEC = next(spec for spec in default_engines() if spec.id == ENGINE_ID)
SIZE = (160, 120)
SUBJECT = noise(*SIZE, seed=7)
INSIDE = np.asarray(box_alpha(SIZE)) == 255


def engine() -> tuple[RelightEngine, FakeEngine, BoxCutout]:
    painter, cutout = FakeEngine(painter_spec(SPEC)), BoxCutout()
    return RelightEngine(SPEC, painter=painter, segmenter=cutout), painter, cutout


def request(subject: Image.Image = SUBJECT, **fields: Any) -> GenerationRequest:
    """The engine's request for these API fields, as the generation service makes it."""
    op = ReplaceBackgroundAndRelight(subject_image=subject, seed=5, **fields)
    resolved = op.for_engine(SPEC).with_seeds()
    assert isinstance(resolved, ReplaceBackgroundAndRelight)
    return resolved.to_engine()


def run(relight: RelightEngine, work: GenerationRequest, **kwargs: Any) -> np.ndarray:
    (result,) = relight.generate([work], **kwargs)
    (output,) = result.image_outputs()
    assert output.image.size == work.init_image.size if work.init_image else False
    return np.asarray(output.image)


def test_a_prompt_paints_the_background_around_the_subject_and_keeps_the_subject() -> None:
    relight, painter, cutout = engine()
    work = request(
        background_prompt="a beach",
        foreground_prompt="a red car",
        negative_prompt="fog",
        preserve_original_subject=1.0,
    )
    out = run(relight, work)
    (painting,) = painter.calls[0]
    assert painting.kind == "masking" and list(painting.seeds) == list(work.seeds)
    assert [(p.text, p.weight) for p in painting.prompts] == [
        ("a beach, a red car", 1.0),
        ("fog", -1.0),
    ]
    # everything but the solid subject is painted, from the original background
    assert np.array_equal(np.asarray(painting.mask) == 0, INSIDE)
    assert painting.mask_strength == pytest.approx(1 - DEPTH_KEEP * 0.5)
    assert painting.init_image is not None
    assert np.array_equal(np.asarray(painting.init_image), np.asarray(SUBJECT))
    assert (painting.width, painting.height) == SIZE  # within sd1's working size
    assert cutout.seen[0].size == SIZE
    # the subject's pixels come back exactly; the background is the painted one
    assert np.array_equal(out[INSIDE], np.asarray(SUBJECT)[INSIDE])
    assert np.array_equal(out[~INSIDE], np.asarray(noise(*SIZE, work.seeds[0]))[~INSIDE])


def test_more_original_depth_keeps_more_of_the_original_background() -> None:
    relight, painter, _ = engine()
    run(relight, request(background_prompt="x", original_background_depth=1.0))
    run(relight, request(background_prompt="x", original_background_depth=0.0))
    strengths = [call[0].mask_strength for call in painter.calls]
    assert strengths == [pytest.approx(1 - DEPTH_KEEP), 1.0]


def test_a_large_subject_is_painted_at_the_working_size_and_scaled_back() -> None:
    relight, painter, _ = engine()
    out = run(relight, request(noise(1024, 768, 2), background_prompt="x"))
    (painting,) = painter.calls[0]
    assert (painting.width, painting.height) == (592, 440)  # about 512 x 512 pixels
    assert out.shape == (768, 1024, 3)


def test_a_reference_with_a_prompt_is_where_the_painting_starts() -> None:
    relight, painter, _ = engine()
    reference = noise(300, 100, 9)
    run(relight, request(background_prompt="x", background_reference=reference))
    (painting,) = painter.calls[0]
    assert painting.mask_strength == REFERENCE_STRENGTH
    fitted = np.asarray(ImageOps.fit(reference, SIZE, Image.Resampling.LANCZOS))
    assert painting.init_image is not None
    assert np.array_equal(np.asarray(painting.init_image)[~INSIDE], fitted[~INSIDE])


def test_a_reference_alone_is_the_background_without_painting() -> None:
    relight, painter, _ = engine()
    reference = noise(200, 200, 9)
    out = run(relight, request(background_reference=reference, preserve_original_subject=1))
    assert painter.calls == []
    fitted = np.asarray(ImageOps.fit(reference, SIZE, Image.Resampling.LANCZOS))
    assert np.abs(out[~INSIDE].astype(int) - fitted[~INSIDE]).max() <= 1  # no light: as it was
    assert np.array_equal(out[INSIDE], np.asarray(SUBJECT)[INSIDE])


def test_keeping_the_original_background_only_relights() -> None:
    relight, painter, _ = engine()
    kept = run(
        relight,
        request(
            background_prompt="dusk", keep_original_background=True, preserve_original_subject=1
        ),
    )
    assert painter.calls == []
    assert np.abs(kept.astype(int) - np.asarray(SUBJECT)).max() <= 1


def test_the_light_direction_brightens_its_side_of_a_flat_grey_subject() -> None:
    relight, _, _ = engine()
    flat = Image.new("RGB", SIZE, (128, 128, 128))

    def brightness(**fields: Any) -> np.ndarray:
        lit = request(
            flat,
            background_prompt="x",
            keep_original_background=True,
            light_source_direction="left",
            **fields,
        )
        mean: np.ndarray = run(relight, lit).mean(axis=2)
        return mean

    for preserve in (0.0, 1.0):
        out = brightness(light_source_strength=1.0, preserve_original_subject=preserve)
        left, right = out[:, :40].mean(), out[:, -40:].mean()
        assert left > 128 + 20 and right < 128 - 20
        # the subject is relit too unless it is preserved
        assert bool(np.all(out[INSIDE] == 128)) is (preserve == 1.0)
    dim = brightness()  # Stability's default strength, 0.3
    assert out[:, :40].mean() - out[:, -40:].mean() > dim[:, :40].mean() - dim[:, -40:].mean() > 5


def test_progress_covers_the_cut_out_the_painting_and_the_composite() -> None:
    relight, _, _ = engine()
    work = request(background_prompt="x")
    reports: list[tuple[int, int]] = []
    run(relight, work, progress=lambda step, total: reports.append((step, total)))
    total = 2 + work.steps
    assert {t for _, t in reports} == {total}
    assert [s for s, _ in reports] == sorted(s for s, _ in reports)
    assert reports[0] == (1, total) and reports[-1] == (total, total)


def test_cancel_stops_before_and_during_the_painting() -> None:
    relight, painter, _ = engine()
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        relight.generate([request(background_prompt="x")], cancel=cancel)
    assert painter.calls == []
    cancel.clear()
    with pytest.raises(Cancelled):
        relight.generate(
            [request(background_prompt="x")],
            cancel=cancel,
            progress=lambda step, total: cancel.set(),  # after the cut-out's step
        )
    assert len(painter.calls) == 1


def test_it_refuses_what_it_cannot_run() -> None:
    relight, _, _ = engine()
    work = request(background_prompt="x")
    for bad in (
        GenerationRequest(kind="masking", prompts=[], width=64, height=64, seeds=[1]),
        GenerationRequest(kind=work.kind, prompts=[], width=64, height=64, seeds=[1]),
        GenerationRequest(**{**vars(work), "extras": {"light_source_direction": "none"}}),
        GenerationRequest(**{**vars(work), "extras": {"preserve_original_subject": 2}}),
    ):
        with pytest.raises(InvalidRequest):
            relight.generate([bad])


def test_it_loads_and_measures_both_models() -> None:
    relight, painter, cutout = engine()
    assert relight.loaded and relight.memory_bytes() == 0
    relight.load()
    relight.unload()
    assert relight.painter is painter and relight.segmenter is cutout


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"family": "esrgan"}, "kind 'relight' does not fit family 'esrgan'"),
        ({"family": "svd"}, "kind 'video' goes with family 'svd'"),
        ({"family": "mesh"}, "kind '3d' goes with family 'mesh'"),
        ({"family": "u2net"}, "kind 'segment' and family 'u2net' go together"),
        ({"backend": "lanczos"}, "the lanczos backend serves upscale engines only"),
        ({"backend": "diffusers", "model": "/m"}, "a relight engine needs `mask_model`"),
        ({"backend": "diffusers", "mask_model": "/u2net.pth"}, "needs `model`"),
        ({"backend": "depth-mesh", "model": "/m"}, "the depth-mesh backend serves 3d engines only"),
        ({"backend": "u2net", "model": "/m"}, "the u2net backend needs family 'u2net'"),
    ],
)
def test_the_registry_refuses_a_relight_engine_it_cannot_build(
    tmp_path: Path, fields: dict[str, str], problem: str
) -> None:
    spec = EngineSpec.model_validate({**SPEC.model_dump(), **fields})
    with pytest.raises(ValueError, match=re.escape(problem)):
        EngineRegistry([spec], data_dir=tmp_path)


def test_real_weights_are_an_inpainting_painter_and_a_u2net_cut_out(tmp_path: Path) -> None:
    spec = EngineSpec.model_validate(
        {**SPEC.model_dump(), "backend": "diffusers", "model": "/m", "mask_model": "/u.pth"}
    )
    built = EngineRegistry([spec], data_dir=tmp_path).get(ENGINE_ID).backend  # type: ignore[attr-defined]
    assert isinstance(built, RelightEngine)
    assert isinstance(built.painter, DiffusersEngine) and isinstance(built.segmenter, SegmentEngine)
    assert (built.painter.spec.kind, built.painter.model_source()) == ("inpaint", "/m")
    assert (built.segmenter.spec.family, built.segmenter.model_source()) == ("u2net", "/u.pth")
    assert not built.loaded  # nothing loads before the first request
