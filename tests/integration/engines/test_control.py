"""The control engines on the tiny SDXL, ControlNet and IP-Adapter, through diffusers' loaders."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from easel.engines.base import Engine, GenerationRequest, WeightedPrompt
from easel.engines.registry import EngineRegistry
from easel.errors import Cancelled, EngineError, InvalidRequest
from tests.integration.engines.conftest import noise_image, pixels, png

SKETCH, STRUCTURE = "stable-image-control-sketch", "stable-image-control-structure"
STYLE, TRANSFER = "stable-image-control-style", "stable-image-style-transfer"


def drawing(
    size: tuple[int, int] = (200, 150), box: tuple[int, int, int, int] = (40, 30, 160, 120)
):
    """Dark strokes on white paper."""
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).ellipse(box, outline="black", width=3)
    return image


def control(
    kind: str,
    size: tuple[int, int],
    *,
    seeds: tuple[int, ...] = (1,),
    steps: int = 3,
    **fields: object,
) -> GenerationRequest:
    return GenerationRequest(
        kind=kind,  # type: ignore[arg-type]
        prompts=[WeightedPrompt("a house")],
        width=size[0],
        height=size[1],
        seeds=list(seeds),
        steps=steps,
        **fields,  # type: ignore[arg-type]
    )


def run(engine: Engine, request: GenerationRequest) -> list[Image.Image]:
    (result,) = engine.generate([request])
    return [image.image for image in result.images]


def differ(a: Image.Image, b: Image.Image) -> bool:
    return bool(np.abs(pixels(a) - pixels(b)).max() > 2)


@pytest.mark.parametrize(
    ("engine_id", "kind"), [(SKETCH, "control-sketch"), (STRUCTURE, "control-structure")]
)
def test_sketch_and_structure_answer_at_the_input_size_deterministically(
    registry: EngineRegistry, data_dir: Path, engine_id: str, kind: str
) -> None:
    engine = registry.get(engine_id)
    steps: list[tuple[int, int]] = []
    # 200x150 diffuses at 192x128 (sides in steps of 64) and is resized back
    request = control(kind, (200, 150), seeds=(3, 4), init_image=drawing())
    (result,) = engine.generate([request], progress=lambda s, t: steps.append((s, t)))
    images = [i.image for i in result.images]
    assert [i.size for i in images] == [(200, 150)] * 2
    assert [i.seed for i in result.images] == [3, 4]
    assert steps == [(n, 6) for n in range(1, 7)]
    assert [png(i) for i in run(engine, request)] == [png(i) for i in images]
    assert differ(images[0], images[1])
    assert (data_dir / "sandbox" / "sdxl-controlnet" / "config.json").is_file()


@pytest.mark.parametrize(
    ("engine_id", "kind"), [(SKETCH, "control-sketch"), (STRUCTURE, "control-structure")]
)
def test_the_control_image_steers_the_output_by_control_strength(
    registry: EngineRegistry, engine_id: str, kind: str
) -> None:
    engine = registry.get(engine_id)
    circle, square = drawing(), drawing(box=(20, 20, 90, 90))

    def out(image: Image.Image, strength: float) -> Image.Image:
        request = control(kind, (128, 128), init_image=image, extras={"control_strength": strength})
        return run(engine, request)[0]

    # at strength 0 the sketch is ignored; at 0.7 a different sketch gives a different image
    assert png(out(circle, 0.0)) == png(out(square, 0.0))
    assert differ(out(circle, 0.7), out(square, 0.7))
    assert differ(out(circle, 0.7), out(circle, 0.0))


def test_style_follows_the_reference_image_by_its_strength(registry: EngineRegistry) -> None:
    engine = registry.get(STYLE)

    def out(reference: Image.Image, strength: float) -> Image.Image:
        request = control(
            "control-style",
            (128, 96),
            reference_image=reference,
            extras={"style_strength": strength},
        )
        return run(engine, request)[0]

    red, blue = Image.new("RGB", (64, 64), "red"), noise_image(80, seed=5)
    assert out(red, 0.5).size == (128, 96)
    assert png(out(red, 0.0)) == png(out(blue, 0.0))
    assert differ(out(red, 1.0), out(blue, 1.0))
    assert png(out(red, 1.0)) == png(out(red, 1.0))


def test_style_transfer_changes_the_content_by_change_strength(registry: EngineRegistry) -> None:
    engine = registry.get(TRANSFER)
    content = noise_image((128, 96), seed=2).resize((128, 96))
    style = Image.new("RGB", (64, 64), "blue")
    calls: list[tuple[int, int]] = []

    def out(change: float, **extras: float) -> Image.Image:
        request = control(
            "style-transfer",
            (128, 96),
            steps=4,
            init_image=content,
            reference_image=style,
            extras={"change_strength": change, **extras},
        )
        (result,) = engine.generate([request], progress=lambda s, t: calls.append((s, t)))
        return result.images[0].image

    def distance(image: Image.Image) -> float:
        return float(np.abs(pixels(image) - pixels(content)).mean())

    gentle, strong = out(0.5), out(1.0)
    assert gentle.size == strong.size == (128, 96)
    assert calls[:2] == [(1, 2), (2, 2)]  # 2 of 4 steps at change strength 0.5
    assert distance(gentle) < distance(strong)
    # style and composition both steer
    assert differ(out(1.0, style_strength=0.0), strong)
    assert differ(out(1.0, composition_fidelity=0.0), strong)
    # a change strength that leaves no step to run returns the content
    assert png(out(0.1)) == png(content)


def test_cancel_stops_within_one_step(registry: EngineRegistry) -> None:
    cancel = threading.Event()
    steps: list[int] = []

    def progress(step: int, total: int) -> None:
        steps.append(step)
        cancel.set()

    request = control("control-structure", (64, 64), steps=4, init_image=drawing())
    with pytest.raises(Cancelled):
        registry.get(STRUCTURE).generate([request], progress=progress, cancel=cancel)
    assert steps == [1]


def test_an_engine_without_the_weights_a_kind_needs_refuses_it(registry: EngineRegistry) -> None:
    request = control("control-style", (64, 64), reference_image=drawing())
    with pytest.raises(EngineError, match="no an IP-Adapter|IP-Adapter"):
        registry.get(SKETCH).generate([request])
    with pytest.raises(InvalidRequest, match="control_strength"):
        registry.get(SKETCH).generate(
            [
                control(
                    "control-sketch", (64, 64), init_image=drawing(), extras={"control_strength": 2}
                )
            ]
        )
