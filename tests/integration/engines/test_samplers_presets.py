"""Every Stability sampler runs; every style preset changes the prompt and the image."""

from __future__ import annotations

import pytest

from easel.engines.base import Engine, WeightedPrompt
from easel.engines.presets import STYLE_PRESET_NAMES, STYLE_PRESETS, apply_style_preset
from easel.engines.schedulers import DEFAULT_SAMPLER, SAMPLER_NAMES, SAMPLERS, resolve_sampler
from easel.errors import InvalidRequest
from tests.integration.engines.conftest import make_request, max_diff, png

STABILITY_SAMPLERS = {
    "DDIM": "DDIMScheduler",
    "DDPM": "DDPMScheduler",
    "K_DPMPP_2M": "DPMSolverMultistepScheduler",
    "K_DPMPP_2S_ANCESTRAL": "DPMSolverSinglestepScheduler",
    "K_DPM_2": "KDPM2DiscreteScheduler",
    "K_DPM_2_ANCESTRAL": "KDPM2AncestralDiscreteScheduler",
    "K_EULER": "EulerDiscreteScheduler",
    "K_EULER_ANCESTRAL": "EulerAncestralDiscreteScheduler",
    "K_HEUN": "HeunDiscreteScheduler",
    "K_LMS": "LMSDiscreteScheduler",
}

STABILITY_PRESETS = [
    "enhance", "anime", "photographic", "digital-art", "comic-book", "fantasy-art", "line-art",
    "analog-film", "neon-punk", "isometric", "low-poly", "origami", "modeling-compound",
    "cinematic", "3d-model", "pixel-art", "tile-texture",
]  # fmt: skip


def test_the_ten_samplers_map_to_their_diffusers_schedulers() -> None:
    assert {name: cls for name, (cls, _) in SAMPLERS.items()} == STABILITY_SAMPLERS
    assert resolve_sampler(None) == DEFAULT_SAMPLER == "K_DPMPP_2M"
    with pytest.raises(InvalidRequest):
        resolve_sampler("K_NOPE")


@pytest.mark.parametrize("sampler", SAMPLER_NAMES)
def test_every_sampler_runs_and_is_deterministic(sd_engine: Engine, sampler: str) -> None:
    calls: list[tuple[int, int]] = []
    req = make_request(sampler=sampler, steps=3)
    (result,) = sd_engine.generate([req], progress=lambda s, t: calls.append((s, t)))
    image = result.images[0].image
    assert image.size == (64, 64)
    assert (
        calls
        and calls[-1][0] == calls[-1][1]
        and [s for s, _ in calls] == list(range(1, len(calls) + 1))
    )
    assert png(sd_engine.generate([req])[0].images[0].image) == png(image)


def test_samplers_give_different_images(sd_engine: Engine) -> None:
    euler = sd_engine.generate([make_request(sampler="K_EULER")])[0].images[0].image
    ddim = sd_engine.generate([make_request(sampler="DDIM")])[0].images[0].image
    assert max_diff(euler, ddim) > 0


def test_sampler_choice_does_not_leak_into_the_shared_pipeline(sd_engine: Engine) -> None:
    default = make_request()
    before = png(sd_engine.generate([default])[0].images[0].image)
    sd_engine.generate([make_request(sampler="K_HEUN")])
    assert png(sd_engine.generate([default])[0].images[0].image) == before


def test_all_seventeen_presets_exist() -> None:
    assert list(STYLE_PRESET_NAMES) == STABILITY_PRESETS
    for preset in STYLE_PRESETS.values():
        assert "{prompt}" in preset.template and preset.negative


@pytest.mark.parametrize("preset", STABILITY_PRESETS)
def test_every_preset_changes_the_prompt(preset: str) -> None:
    prompts = [WeightedPrompt("a cat", 1.0), WeightedPrompt("a dog", 0.5)]
    styled = apply_style_preset(prompts, preset)
    assert styled[0].text != "a cat" and "a cat" in styled[0].text
    assert styled[0].weight == 1.0 and styled[1].weight == 0.5
    assert styled[-1] == WeightedPrompt(STYLE_PRESETS[preset].negative, -1.0)


def test_presets_leave_negative_prompts_and_braces_alone() -> None:
    prompts = [WeightedPrompt("a {curly} cat", 1.0), WeightedPrompt("blurry", -0.5)]
    styled = apply_style_preset(prompts, "anime")
    assert "a {curly} cat" in styled[0].text
    assert styled[1] == WeightedPrompt("blurry", -0.5)
    assert apply_style_preset(prompts, None) == prompts
    with pytest.raises(InvalidRequest):
        apply_style_preset(prompts, "vaporwave")


@pytest.mark.parametrize("preset", STABILITY_PRESETS)
def test_every_preset_changes_the_image(sd_engine: Engine, preset: str) -> None:
    plain = sd_engine.generate([make_request(steps=2)])[0].images[0].image
    styled = sd_engine.generate([make_request(steps=2, style_preset=preset)])[0].images[0].image
    assert max_diff(plain, styled) > 0


def test_sdxl_presets_change_the_image(sdxl_engine: Engine) -> None:
    plain = sdxl_engine.generate([make_request(steps=2)])[0].images[0].image
    styled = sdxl_engine.generate([make_request(steps=2, style_preset="pixel-art")])
    assert max_diff(plain, styled[0].images[0].image) > 0
