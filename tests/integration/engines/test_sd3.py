"""The sd3 family: the tiny SD3 model, its loading path and v2beta sizes.

The generic engine behaviours (seeds, batching, progress, cancel, negative
prompts, image-to-image) run on SD3 too, through the `engine` fixture of
test_generation.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from easel.engines.backends.diffusers import DiffusersEngine
from easel.engines.base import Engine, EngineSpec
from easel.engines.dimensions import ASPECT_RATIO_SIZES
from easel.errors import InvalidRequest
from tests.integration.engines.conftest import make_request, noise_image, png


def _config(model: Path, part: str) -> dict:
    return json.loads((model / part / "config.json").read_text())


def test_sd3_layout(tiny_models: Path) -> None:
    model = tiny_models / "sd3"
    index = json.loads((model / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusion3Pipeline"
    assert index["text_encoder_3"] == ["transformers", "T5EncoderModel"]
    assert index["scheduler"] == ["diffusers", "FlowMatchEulerDiscreteScheduler"]
    transformer = _config(model, "transformer")
    assert transformer["_class_name"] == "SD3Transformer2DModel"
    assert transformer["patch_size"] == 2 and transformer["in_channels"] == 16
    # the two CLIP projections are concatenated into the pooled projection
    projections = [
        _config(model, te)["projection_dim"] for te in ("text_encoder", "text_encoder_2")
    ]
    assert sum(projections) == transformer["pooled_projection_dim"]
    vae = _config(model, "vae")
    assert vae["latent_channels"] == 16 and len(vae["block_out_channels"]) == 4  # 1024 -> 128
    assert vae["shift_factor"] == pytest.approx(0.0609)


def test_t5_tokenizer_is_local(tiny_models: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_models / "sd3" / "tokenizer_3"))
    ids = tokenizer("a cinematic photo of a cat").input_ids
    assert ids[-1] == tokenizer.eos_token_id and tokenizer.unk_token_id not in ids
    assert len(ids) == 7  # known words are single tokens, then </s>


def test_real_weights_path_loads_the_same_model(tiny_models: Path, sd3_engine: Engine) -> None:
    spec = EngineSpec(
        id="sd3-local", name="x", family="sd3", backend="diffusers", model=str(tiny_models / "sd3")
    )
    local = DiffusersEngine(spec, device="cpu", dtype="float32")
    request = make_request(seeds=[7], steps=2)
    (ours,) = local.generate([request])
    (sandbox,) = sd3_engine.generate([request])
    assert png(ours.images[0].image) == png(sandbox.images[0].image)


@pytest.mark.parametrize("ratio", ["16:9", "9:21"])
def test_aspect_table_sizes_run(sd3_engine: Engine, ratio: str) -> None:
    size = ASPECT_RATIO_SIZES[ratio]  # 9:21 is the longest side, at the position table's limit
    (result,) = sd3_engine.generate([make_request(size=size, steps=1)])
    assert result.images[0].image.size == size


def test_image_to_image_keeps_the_requested_size(sd3_engine: Engine) -> None:
    # SD3's img2img would resize to 1024 px unless told the size
    req = make_request("image-to-image", init_image=noise_image((96, 64)), size=(96, 64), steps=2)
    (result,) = sd3_engine.generate([req])
    assert result.images[0].image.size == (96, 64)


def test_samplers_are_validated_then_ignored(sd3_engine: Engine) -> None:
    (plain,) = sd3_engine.generate([make_request(steps=2)])
    (euler,) = sd3_engine.generate([make_request(steps=2, sampler="K_DPM_2_ANCESTRAL")])
    assert png(plain.images[0].image) == png(euler.images[0].image)
    with pytest.raises(InvalidRequest, match="sampler"):
        sd3_engine.generate([make_request(steps=2, sampler="K_NOPE")])
