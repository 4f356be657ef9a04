"""Text-to-image, image-to-image and masking on the sandbox's tiny SD, SDXL and SD3 models."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image

from easel.engines.base import Engine
from easel.errors import Cancelled, EngineError, InvalidRequest
from tests.integration.engines.conftest import make_request, max_diff, noise_image, pixels, png

# Measured on CPU (torch 2.13, 2 threads): batched and single runs of the same
# sample differ by at most one grey level, from float rounding in batched matmuls.
BATCH_TOLERANCE = 1


@pytest.fixture(params=["sd", "sdxl", "sd3"])
def engine(
    request: pytest.FixtureRequest, sd_engine: Engine, sdxl_engine: Engine, sd3_engine: Engine
) -> Engine:
    return {"sd": sd_engine, "sdxl": sdxl_engine, "sd3": sd3_engine}[request.param]


def test_same_seed_gives_same_png_bytes(engine: Engine) -> None:
    first = engine.generate([make_request(seeds=[42])])[0].images[0]
    second = engine.generate([make_request(seeds=[42])])[0].images[0]
    assert first.seed == second.seed == 42
    assert first.finish_reason == "SUCCESS"
    assert first.image.mode == "RGB" and first.image.size == (64, 64)
    assert png(first.image) == png(second.image)


def test_different_seeds_give_different_images(engine: Engine) -> None:
    a = engine.generate([make_request(seeds=[1])])[0].images[0].image
    b = engine.generate([make_request(seeds=[2])])[0].images[0].image
    assert max_diff(a, b) > 10


def test_each_sample_gets_its_own_seed_and_image(engine: Engine) -> None:
    (result,) = engine.generate([make_request(seeds=[5, 6, 7])])
    assert [img.seed for img in result.images] == [5, 6, 7]
    images = [img.image for img in result.images]
    assert max_diff(images[0], images[1]) > 10
    assert max_diff(images[1], images[2]) > 10


def test_non_square_size(sd_engine: Engine) -> None:
    (result,) = sd_engine.generate([make_request(size=(96, 64))])
    assert result.images[0].image.size == (96, 64)


@pytest.mark.parametrize("sampler", [None, "K_EULER_ANCESTRAL", "DDPM"])
def test_batched_call_matches_solo_runs(engine: Engine, sampler: str | None) -> None:
    a = make_request(prompts="a cat", seeds=[11, 12], sampler=sampler)
    b = make_request(prompts="a red house", seeds=[13], sampler=sampler)
    batched = engine.generate([a, b])
    solo = engine.generate([a]) + engine.generate([b])
    assert [[i.seed for i in r.images] for r in batched] == [[11, 12], [13]]
    for got, want in zip(batched, solo, strict=True):
        for x, y in zip(got.images, want.images, strict=True):
            assert max_diff(x.image, y.image) <= BATCH_TOLERANCE
    # ...and each result really is its own request's (not a neighbour's).
    assert max_diff(batched[0].images[0].image, solo[1].images[0].image) > 10


def test_incompatible_requests_in_one_call_come_back_in_order(sd_engine: Engine) -> None:
    init = noise_image()
    mixed = [
        make_request(seeds=[1]),
        make_request("image-to-image", seeds=[2], init_image=init, image_strength=0.5),
        make_request(seeds=[3], steps=2),
    ]
    results = sd_engine.generate(mixed)
    assert [r.images[0].seed for r in results] == [1, 2, 3]
    solo = [sd_engine.generate([r])[0].images[0].image for r in mixed]
    for got, want in zip(results, solo, strict=True):
        assert max_diff(got.images[0].image, want) <= BATCH_TOLERANCE


def test_progress_is_reported_after_every_step(engine: Engine) -> None:
    calls: list[tuple[int, int]] = []
    engine.generate(
        [make_request(steps=4)], progress=lambda step, total: calls.append((step, total))
    )
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_progress_spans_groups_of_one_call(sd_engine: Engine) -> None:
    calls: list[tuple[int, int]] = []
    sd_engine.generate(
        [make_request(steps=2), make_request(steps=3)],
        progress=lambda step, total: calls.append((step, total)),
    )
    assert calls == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]


def test_cancel_stops_within_one_step(engine: Engine) -> None:
    cancel = threading.Event()
    calls: list[int] = []

    def progress(step: int, total: int) -> None:
        calls.append(step)
        if step == 2:
            cancel.set()

    with pytest.raises(Cancelled):
        engine.generate([make_request(steps=10)], progress=progress, cancel=cancel)
    assert calls == [1, 2]
    # The engine is usable afterwards.
    assert engine.generate([make_request()])[0].images


def test_cancel_set_before_start(sd_engine: Engine) -> None:
    cancel = threading.Event()
    cancel.set()
    calls: list[int] = []
    with pytest.raises(Cancelled):
        sd_engine.generate([make_request()], progress=lambda s, t: calls.append(s), cancel=cancel)
    assert calls == []


def test_cancel_from_another_thread(sd_engine: Engine) -> None:
    cancel = threading.Event()
    started = threading.Event()
    calls: list[int] = []

    def progress(step: int, total: int) -> None:
        calls.append(step)
        started.set()

    errors: list[BaseException] = []

    def run() -> None:
        try:
            sd_engine.generate([make_request(steps=200)], progress=progress, cancel=cancel)
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    assert started.wait(30)
    cancel.set()
    worker.join(30)
    assert len(errors) == 1 and isinstance(errors[0], Cancelled)
    assert len(calls) < 200


# --------------------------------------------------------------------------- prompts


def test_prompt_weights_are_normalised(sd_engine: Engine) -> None:
    once = sd_engine.generate([make_request(prompts=[("a cat", 1.0)])])[0].images[0].image
    twice = sd_engine.generate([make_request(prompts=[("a cat", 2.5)])])[0].images[0].image
    assert png(once) == png(twice)


def test_prompts_blend_by_weight(sd_engine: Engine) -> None:
    def run(prompts: list[tuple[str, float]]) -> Image.Image:
        return sd_engine.generate([make_request(prompts=prompts)])[0].images[0].image

    cat, dog = run([("a cat", 1)]), run([("a dog", 1)])
    mostly_cat = run([("a cat", 0.9), ("a dog", 0.1)])
    assert 0 < max_diff(mostly_cat, cat) < max_diff(mostly_cat, dog)


def test_negative_prompts_change_the_image(engine: Engine) -> None:
    plain = engine.generate([make_request()])[0].images[0].image
    negative = engine.generate([make_request(prompts=[("a cat", 1), ("blurry", -1)])])
    assert max_diff(plain, negative[0].images[0].image) > 0


# --------------------------------------------------------------------------- image-to-image


@pytest.mark.parametrize("params", [{"image_strength": 1.0}, {"step_schedule_start": 0.0}])
def test_zero_denoise_returns_the_init_image_exactly(engine: Engine, params: dict) -> None:
    init = noise_image(seed=3)
    calls: list[int] = []
    (result,) = engine.generate(
        [make_request("image-to-image", seeds=[1, 2], init_image=init, steps=10, **params)],
        progress=lambda s, t: calls.append(s),
    )
    assert [i.seed for i in result.images] == [1, 2]
    for image in result.images:
        assert np.array_equal(pixels(image.image), pixels(init))
    assert calls == []


def test_a_sliver_of_denoise_follows_the_pipelines_rounding(engine: Engine) -> None:
    init = noise_image(seed=3)
    calls: list[int] = []
    (result,) = engine.generate(
        [make_request("image-to-image", init_image=init, steps=10, step_schedule_start=0.01)],
        progress=lambda s, t: calls.append(s),
    )
    if engine.spec.family == "sd3":
        # SD3 img2img rounds the skipped steps down: 0.1 of a step still runs one
        assert calls == [1] and result.images[0].image.size == init.size
    else:
        # SD/SDXL round the steps that run down: none, so the init comes back exactly
        assert calls == [] and np.array_equal(pixels(result.images[0].image), pixels(init))


def test_image_strength_sets_how_many_steps_run(engine: Engine) -> None:
    init = noise_image(seed=4)
    totals: list[int] = []
    engine.generate(
        [make_request("image-to-image", init_image=init, steps=10, image_strength=0.3)],
        progress=lambda s, t: totals.append(t),
    )
    assert totals == [7] * 7  # diffusers strength 0.7 of 10 steps


def test_image_to_image_is_deterministic_and_uses_the_init(engine: Engine) -> None:
    def run(init: Image.Image) -> Image.Image:
        req = make_request("image-to-image", init_image=init, image_strength=0.5, steps=4)
        return engine.generate([req])[0].images[0].image

    a, b = run(noise_image(seed=5)), run(noise_image(seed=5))
    assert png(a) == png(b)
    assert max_diff(a, run(noise_image(seed=6))) > 10


def test_step_schedule_end_stops_early(sd_engine: Engine) -> None:
    init = noise_image(seed=7)
    calls: list[tuple[int, int]] = []

    def run(**params: float) -> Image.Image:
        calls.clear()
        req = make_request("image-to-image", init_image=init, steps=10, **params)
        (result,) = sd_engine.generate([req], progress=lambda s, t: calls.append((s, t)))
        return result.images[0].image

    full = run(step_schedule_start=0.6)
    assert calls[-1] == (6, 6)
    early = run(step_schedule_start=0.6, step_schedule_end=0.7)
    # Steps 4..10 of the schedule would run; ending at 0.7 keeps steps 4..7.
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert max_diff(full, early) > 0


def test_step_schedule_end_before_start_returns_the_init(sd_engine: Engine) -> None:
    init = noise_image(seed=8)
    req = make_request(
        "image-to-image",
        init_image=init,
        steps=10,
        step_schedule_start=0.5,
        step_schedule_end=0.4,
    )
    (result,) = sd_engine.generate([req])
    assert np.array_equal(pixels(result.images[0].image), pixels(init))


def test_init_image_of_another_size_is_resized(sd_engine: Engine) -> None:
    req = make_request("image-to-image", init_image=noise_image(80), image_strength=0.5)
    assert sd_engine.generate([req])[0].images[0].image.size == (64, 64)


# --------------------------------------------------------------------------- masking


def _mask(size: int = 64) -> Image.Image:
    mask = Image.new("L", (size, size), 0)
    mask.paste(255, (16, 16, 48, 40))
    mask.paste(128, (0, 56, 64, 64))  # a soft band: blended
    return mask


@pytest.mark.parametrize("engine_name", ["sd_engine", "sdxl_engine", "inpaint_engine"])
def test_masking_keeps_protected_pixels_exactly(
    engine_name: str, request: pytest.FixtureRequest
) -> None:
    engine: Engine = request.getfixturevalue(engine_name)
    init, mask = noise_image(seed=9), _mask()
    (result,) = engine.generate(
        [make_request("masking", seeds=[1, 2], init_image=init, mask=mask, steps=3)]
    )
    keep = np.asarray(mask) == 0
    repaint = np.asarray(mask) == 255
    for image in result.images:
        out = pixels(image.image)
        assert np.array_equal(out[keep], pixels(init)[keep])
        assert np.abs(out[repaint] - pixels(init)[repaint]).max() > 10
    assert max_diff(result.images[0].image, result.images[1].image) > 0


def test_all_black_mask_returns_the_init(sd_engine: Engine) -> None:
    init = noise_image(seed=10)
    req = make_request("masking", init_image=init, mask=Image.new("L", (64, 64), 0))
    (result,) = sd_engine.generate([req])
    assert np.array_equal(pixels(result.images[0].image), pixels(init))


def test_masking_is_deterministic(inpaint_engine: Engine) -> None:
    req = make_request("masking", seeds=[3], init_image=noise_image(seed=11), mask=_mask())
    a = inpaint_engine.generate([req])[0].images[0].image
    b = inpaint_engine.generate([req])[0].images[0].image
    assert png(a) == png(b)


# --------------------------------------------------------------------------- errors


def test_inpaint_engine_refuses_text_to_image(inpaint_engine: Engine) -> None:
    with pytest.raises(InvalidRequest):
        inpaint_engine.generate([make_request()])


def test_image_to_image_without_init_image_is_invalid(sd_engine: Engine) -> None:
    with pytest.raises(InvalidRequest):
        sd_engine.generate([make_request("image-to-image")])


def test_pipeline_failures_become_engine_errors(sd_engine: Engine) -> None:
    with pytest.raises(EngineError) as info:
        sd_engine.generate([make_request(size=(60, 64))])  # not a multiple of 8
    assert info.value.status == 500
    assert "stable-diffusion-v1-6" in info.value.message


def test_out_of_memory_becomes_out_of_memory_error() -> None:
    from easel.engines.backends._common import engine_errors
    from easel.errors import OutOfMemory

    with pytest.raises(OutOfMemory) as info, engine_errors("e", "generating"):
        raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")
    assert info.value.status == 503


# --------------------------------------------------------------------------- sharing


def test_sandbox_masking_uses_the_right_inpainting_model(
    sd_engine: Engine, sdxl_engine: Engine
) -> None:
    req = make_request("masking", init_image=noise_image(), mask=_mask(), steps=1)
    for engine in (sd_engine, sdxl_engine):
        engine.generate([req])
    sd_masking = sd_engine.backend._pipes["masking"]  # type: ignore[attr-defined]
    sdxl_masking = sdxl_engine.backend._pipes["masking"]  # type: ignore[attr-defined]
    assert sd_masking.unet.config.in_channels == 9  # the tiny SD inpainting model
    assert type(sdxl_masking).__name__ == "StableDiffusionXLInpaintPipeline"
    assert sdxl_masking.unet is sdxl_engine.backend._pipes["text-to-image"].unet  # type: ignore[attr-defined]


def test_calls_do_not_change_the_shared_pipeline(sd_engine: Engine) -> None:
    pipes = sd_engine.backend._pipes  # type: ignore[attr-defined]
    before = {kind: type(pipe.scheduler) for kind, pipe in pipes.items()}
    sd_engine.generate([make_request(sampler="K_HEUN"), make_request(sampler="DDIM")])
    assert {kind: type(pipe.scheduler) for kind, pipe in pipes.items()} == before
    assert not any(getattr(pipe, "_interrupt", False) for pipe in pipes.values())


def test_concurrent_callers_get_their_own_results(sd_engine: Engine) -> None:
    requests = [make_request(seeds=[i], sampler=s) for i, s in enumerate(["K_EULER", "DDIM"] * 2)]
    expected = [sd_engine.generate([r])[0].images[0].image for r in requests]
    got: dict[int, bytes] = {}

    def run(i: int) -> None:
        got[i] = png(sd_engine.generate([requests[i]])[0].images[0].image)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [got[i] for i in range(len(requests))] == [png(e) for e in expected]


def test_truncated_long_prompts_are_not_logged(sd_engine: Engine) -> None:
    import logging

    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect(level=logging.DEBUG)
    diffusers_logger = logging.getLogger("diffusers")
    diffusers_logger.addHandler(handler)
    try:
        long = " ".join(f"secretword{i} a photo of a cat" for i in range(40))
        sd_engine.generate([make_request(prompts=long, steps=1)])
    finally:
        diffusers_logger.removeHandler(handler)
    assert any("truncated" in r.getMessage() for r in records)
    assert not any("secretword" in r.getMessage() for r in records)
