"""v2beta's edit engines on their tiny models: SD inpainting (erase, inpaint, outpaint),
CLIPSeg masks (search-and-replace, search-and-recolor) and U²-Net (remove-background)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image, ImageDraw

from easel.engines.base import GenerationRequest, WeightedPrompt
from easel.engines.masks import dilate, grow_mask
from easel.engines.registry import EngineRegistry
from easel.engines.segmenters.u2net import U2Net, from_state_dict
from easel.errors import Cancelled
from easel.generation.edit import Outpaint
from tests.integration.engines.conftest import noise_image, pixels, png

INPAINT, SEARCH, RECOLOR = (
    "stable-image-inpaint",
    "stable-image-search-and-replace",
    "stable-image-search-and-recolor",
)
REMOVE_BACKGROUND = "stable-image-remove-background"
SIZE = (96, 80)


def _mask(
    size: tuple[int, int] = SIZE, box: tuple[int, int, int, int] = (30, 20, 60, 50)
) -> Image.Image:
    mask = Image.new("L", size, 0)
    mask.paste(255, box)
    return mask


def _edit(
    kind: str = "masking",
    *,
    image: Image.Image | None = None,
    mask: Image.Image | None = None,
    seeds: list[int] | None = None,
    steps: int = 4,
    **fields: object,
) -> GenerationRequest:
    image = image if image is not None else noise_image(SIZE)
    return GenerationRequest(
        kind=kind,  # type: ignore[arg-type]
        prompts=[WeightedPrompt("a red ball")],
        width=image.width,
        height=image.height,
        seeds=seeds or [1],
        steps=steps,
        init_image=image,
        mask=mask,
        **fields,  # type: ignore[arg-type]
    )


def test_inpaint_repaints_only_the_grown_mask_deterministically(registry: EngineRegistry) -> None:
    source = noise_image(SIZE, seed=5)
    request = _edit(image=source, mask=_mask(), seeds=[3, 4], extras={"grow_mask": 4})
    calls: list[tuple[int, int]] = []
    (result,) = registry.get(INPAINT).generate(
        [request], progress=lambda s, t: calls.append((s, t))
    )
    assert [i.image.size for i in result.images] == [SIZE, SIZE]
    assert (
        calls
        and calls[-1][0] == calls[-1][1]
        and [s for s, _ in calls] == sorted(s for s, _ in calls)
    )
    kept = pixels(dilate(_mask(), 4)) == 0
    for out in result.images:
        assert np.array_equal(pixels(out.image)[kept], pixels(source)[kept])
        assert not np.array_equal(pixels(out.image)[~kept], pixels(source)[~kept])
    (again,) = registry.get(INPAINT).generate([request])
    assert [png(i.image) for i in again.images] == [png(i.image) for i in result.images]
    assert png(result.images[0].image) != png(result.images[1].image)


def test_a_large_input_is_painted_smaller_and_comes_back_at_its_size(
    registry: EngineRegistry,
) -> None:
    source = noise_image((720, 560), seed=2)
    mask = _mask((720, 560), (300, 200, 420, 320))
    (result,) = registry.get("stable-image-erase").generate(
        [_edit(image=source, mask=mask, steps=2)]
    )
    out = result.images[0].image
    assert out.size == (720, 560)
    kept = pixels(mask) == 0
    assert np.array_equal(pixels(out)[kept], pixels(source)[kept])


def test_an_empty_mask_returns_the_input_without_running(registry: EngineRegistry) -> None:
    source = noise_image(SIZE, seed=7)
    calls: list[int] = []
    (result,) = registry.get(INPAINT).generate(
        [_edit(image=source, mask=Image.new("L", SIZE, 0), extras={"grow_mask": 10})],
        progress=lambda s, t: calls.append(s),
    )
    assert np.array_equal(pixels(result.images[0].image), pixels(source)) and calls == []


def test_outpaint_keeps_the_input_at_its_offset(registry: EngineRegistry) -> None:
    source = noise_image((64, 64), seed=8)
    op = Outpaint(image=source, left=24, up=8, creativity=0.5, steps=4, seeds=(9,))
    (result,) = registry.get("stable-image-outpaint").generate([op.to_engine()])
    out = pixels(result.images[0].image)
    assert out.shape == (72, 88, 3)
    assert np.array_equal(out[8:72, 24:88], pixels(source))


def test_cancel_stops_an_edit_within_one_step(registry: EngineRegistry) -> None:
    cancel = threading.Event()
    calls: list[int] = []

    def progress(step: int, total: int) -> None:
        calls.append(step)
        cancel.set()

    with pytest.raises(Cancelled):
        registry.get(INPAINT).generate(
            [_edit(mask=_mask(), steps=6)], progress=progress, cancel=cancel
        )
    assert calls == [1]


def test_search_and_replace_repaints_what_clipseg_finds(registry: EngineRegistry) -> None:
    source = noise_image(SIZE, seed=11)
    request = _edit(
        "search-and-replace", image=source, extras={"select_prompt": "cat", "grow_mask": 3}
    )
    engine = registry.get(SEARCH)
    found = engine.backend.search_mask(request)  # type: ignore[attr-defined]
    assert found.size == SIZE and set(np.unique(pixels(found))) <= {0, 255}
    (result,) = engine.generate([request])
    (again,) = engine.generate([request])
    assert png(result.images[0].image) == png(again.images[0].image)
    kept = pixels(grow_mask(found, 3)) == 0
    assert np.array_equal(pixels(result.images[0].image)[kept], pixels(source)[kept])


def test_search_and_recolor_keeps_the_luminance(registry: EngineRegistry) -> None:
    source = noise_image(SIZE, seed=12)
    request = _edit(
        "search-and-recolor",
        image=source,
        mask_strength=0.8,
        extras={"select_prompt": "the background", "grow_mask": 0},
    )
    engine = registry.get(RECOLOR)
    found = pixels(engine.backend.search_mask(request)) == 255  # type: ignore[attr-defined]
    (result,) = engine.generate([request])
    luma = [
        pixels(im.convert("YCbCr").getchannel("Y")).astype(int)
        for im in (result.images[0].image, source)
    ]
    # the same luminance where the colour is repainted (up to rounding, and clipping
    # where the new colour cannot be that bright or dark)
    assert found.any()
    assert float(np.median(np.abs(luma[0] - luma[1])[found])) <= 1
    assert float(np.mean(np.abs(luma[0] - luma[1])[found])) < 4
    assert not np.array_equal(pixels(result.images[0].image)[found], pixels(source)[found])
    assert np.array_equal(pixels(result.images[0].image)[~found], pixels(source)[~found])


def _subject_on_white() -> Image.Image:
    image = Image.new("RGB", (128, 96), "white")
    ImageDraw.Draw(image).ellipse((32, 16, 96, 80), fill=(180, 30, 40))
    return image


def test_remove_background_returns_rgba_with_a_real_alpha(registry: EngineRegistry) -> None:
    source = _subject_on_white()
    request = _edit("remove-background", image=source, steps=1)
    calls: list[tuple[int, int]] = []
    (result,) = registry.get(REMOVE_BACKGROUND).generate(
        [request], progress=lambda s, t: calls.append((s, t))
    )
    out = result.images[0].image
    assert (out.mode, out.size, calls) == ("RGBA", (128, 96), [(1, 1)])
    alpha = pixels(out.getchannel("A"))
    assert alpha.min() == 0 and alpha.max() == 255
    assert np.array_equal(pixels(out.convert("RGB")), pixels(source))  # colour untouched
    (again,) = registry.get(REMOVE_BACKGROUND).generate([request])
    assert png(again.images[0].image) == png(out)


def test_u2net_has_the_original_layout_and_size() -> None:
    """The full U²-Net of the paper (44.0 M parameters), keys as in `u2net.pth`."""
    full = U2Net(
        [
            (3, 32, 64),
            (64, 32, 128),
            (128, 64, 256),
            (256, 128, 512),
            (512, 256, 512),
            (512, 256, 512),
        ],
        [(1024, 256, 512), (1024, 128, 256), (512, 64, 128), (256, 32, 64), (128, 16, 64)],
    )
    state = full.state_dict()
    assert sum(p.numel() for p in full.parameters()) == 44_009_869
    for key in (
        "stage1.rebnconvin.conv_s1.weight",
        "stage5d.rebnconv3d.bn_s1.running_var",
        "stage4.rebnconv4.conv_s1.bias",
        "side6.weight",
        "outconv.weight",
    ):
        assert key in state
    rebuilt = from_state_dict(state)
    assert rebuilt.config == full.config
