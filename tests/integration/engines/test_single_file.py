"""Single-file `.safetensors` checkpoints on the diffusers backend (`from_single_file`).

The fixtures are the tiny SD and SDXL models written as the files a civitai /
A1111 user has: one `.safetensors` in the original key layout
(`ldm_checkpoint.py`), plus its configuration in the diffusers layout with
no weights in it (what the `hf download` command in the error message
fetches). With no weights beside the configuration, every tensor
the engine runs must come out of the single file. Loading and the missing
configuration's message are tested on both (`checkpoint`), the other refusals
on the SD file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from easel.engines.base import Engine, EngineSpec
from easel.engines.registry import EngineRegistry
from easel.errors import InvalidRequest
from tests.integration.engines.conftest import (
    make_request,
    noise_image,
    png,
    populate_hub_cache,
)
from tests.integration.engines.ldm_checkpoint import (
    OPEN_CLIP_PREFIX,
    SDXL_TEXT_PREFIX,
    TEXT_PREFIX,
    UNET_PREFIX,
    VAE_PREFIX,
    copy_configs,
    write_single_file,
)

# The repos diffusers infers for an SD 1.x checkpoint (an `input_blocks` UNet whose
# cross-attention is not 1024 wide) and for an SDXL one (OpenCLIP bigG's
# `resblocks.9` under conditioner.embedders.1), so the ones easel looks up
# without `config`.
SD15_REPO = "stable-diffusion-v1-5/stable-diffusion-v1-5"
SDXL_REPO = "stabilityai/stable-diffusion-xl-base-1.0"
CONFIG_REPO = "easel-test/tiny-sd-config"


@pytest.fixture(scope="module")
def single_file(tmp_path_factory: pytest.TempPathFactory, tiny_sd_model: Path) -> Path:
    return write_single_file(tiny_sd_model, tmp_path_factory.mktemp("ckpt") / "tiny-sd.safetensors")


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory: pytest.TempPathFactory, tiny_sd_model: Path) -> Path:
    return copy_configs(tiny_sd_model, tmp_path_factory.mktemp("config") / "tiny-sd-config")


@pytest.fixture(scope="module")
def sdxl_single_file(tmp_path_factory: pytest.TempPathFactory, tiny_sdxl_model: Path) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "tiny-sdxl.safetensors"
    return write_single_file(tiny_sdxl_model, path)


@pytest.fixture(scope="module")
def sdxl_config_dir(tmp_path_factory: pytest.TempPathFactory, tiny_sdxl_model: Path) -> Path:
    return copy_configs(tiny_sdxl_model, tmp_path_factory.mktemp("config") / "tiny-sdxl-config")


@dataclass(frozen=True)
class Checkpoint:
    """A tiny model in both layouts, and what an engine on it is configured with."""

    family: str
    model_dir: Path  # the diffusers layout
    file: Path  # the same weights as one single file in the original layout
    config: Path  # the configuration of model_dir, no weights
    inferred_repo: str
    modules: tuple[str, ...]  # the pipeline's components with weights


@pytest.fixture(params=["sd1", "sdxl"])
def checkpoint(request: pytest.FixtureRequest) -> Checkpoint:
    value = request.getfixturevalue  # only the parameter's files get written
    if request.param == "sd1":
        return Checkpoint(
            "sd1",
            value("tiny_sd_model"),
            value("single_file"),
            value("config_dir"),
            SD15_REPO,
            ("unet", "vae", "text_encoder"),
        )
    return Checkpoint(
        "sdxl",
        value("tiny_sdxl_model"),
        value("sdxl_single_file"),
        value("sdxl_config_dir"),
        SDXL_REPO,
        ("unet", "vae", "text_encoder", "text_encoder_2"),
    )


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face cache for this test (the package runs the hub offline)."""
    import huggingface_hub.constants

    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    return cache


def _spec(**fields: object) -> EngineSpec:
    return EngineSpec.model_validate(
        {"id": "civitai-sd", "name": "SD", "family": "sd1", "backend": "diffusers", **fields}
    )


def _engine(tmp_path: Path, **fields: object) -> Engine:
    registry = EngineRegistry([_spec(**fields)], data_dir=tmp_path, device="cpu", dtype="float32")
    return registry.get("civitai-sd")


# --------------------------------------------------------------------------- the fixture


def test_the_fixture_has_the_original_key_layout(single_file: Path) -> None:
    from diffusers.loaders.single_file_utils import infer_diffusers_model_type
    from safetensors.torch import load_file

    state = load_file(str(single_file))
    assert all(k.startswith((UNET_PREFIX, VAE_PREFIX, TEXT_PREFIX)) for k in state)
    unet = [
        "input_blocks.0.0.weight",  # conv_in
        "input_blocks.1.0.in_layers.2.weight",  # level 0, first resnet
        "input_blocks.3.0.op.weight",  # level 0's downsampler is a block of its own
        "input_blocks.4.1.proj_in.weight",  # level 1: resnet, then cross-attention
        "middle_block.1.transformer_blocks.0.attn2.to_k.weight",
        "middle_block.2.out_layers.3.weight",
        "output_blocks.2.2.conv.weight",  # the upsampler after a resnet and attention
        "out.2.weight",  # conv_out
    ]
    vae = [
        "encoder.down.0.downsample.conv.weight",
        "encoder.mid.attn_1.q.weight",
        "decoder.up.3.upsample.conv.weight",  # the decoder's first (lowest-resolution) level
        "decoder.up.1.block.1.conv2.weight",
        "decoder.norm_out.weight",
    ]
    for key in [UNET_PREFIX + k for k in unet] + [VAE_PREFIX + k for k in vae]:
        assert key in state, key
    # The original decoder numbers its levels from the highest resolution: up.0 has none.
    assert VAE_PREFIX + "decoder.up.0.upsample.conv.weight" not in state
    assert state[VAE_PREFIX + "encoder.mid.attn_1.q.weight"].ndim == 4  # a 1x1 convolution
    assert TEXT_PREFIX + "text_model.embeddings.position_embedding.weight" in state
    # diffusers' own detector reads it as an SD 1.x checkpoint.
    assert infer_diffusers_model_type(state) == "v1"


def test_the_sdxl_fixture_has_the_original_key_layout(sdxl_single_file: Path) -> None:
    from diffusers.loaders.single_file_utils import infer_diffusers_model_type
    from safetensors.torch import load_file

    state = load_file(str(sdxl_single_file))
    prefixes = (UNET_PREFIX, VAE_PREFIX, SDXL_TEXT_PREFIX, OPEN_CLIP_PREFIX)
    assert all(k.startswith(prefixes) for k in state)
    # Levels: two without attention, then one with two transformer blocks per attention.
    unet = [
        "label_emb.0.0.weight",  # the pooled text and size/crop embedding
        "label_emb.0.2.bias",
        "input_blocks.6.0.op.weight",  # level 1's downsampler
        "input_blocks.8.1.transformer_blocks.1.attn2.to_k.weight",  # level 2, depth 2
        "middle_block.1.transformer_blocks.1.ff.net.2.weight",
        "output_blocks.2.2.conv.weight",  # the upsampler after a resnet and attention
        "output_blocks.5.1.conv.weight",  # the upsampler after a resnet alone
    ]
    absent = [
        "input_blocks.4.1.proj_in.weight",  # no attention on level 1
        "input_blocks.8.1.transformer_blocks.2.attn1.to_q.weight",  # depth 2, not 3
        "output_blocks.8.1.conv.weight",  # the last level has no upsampler
    ]
    vae = ["decoder.up.3.upsample.conv.weight", "encoder.mid.attn_1.q.weight"]
    clip_l = [
        "text_model.embeddings.position_embedding.weight",
        "text_model.encoder.layers.4.self_attn.q_proj.weight",
    ]
    open_clip = [
        "token_embedding.weight",
        "positional_embedding",
        "transformer.resblocks.9.attn.in_proj_weight",
        "transformer.resblocks.9.attn.in_proj_bias",
        "transformer.resblocks.0.attn.out_proj.weight",
        "transformer.resblocks.0.ln_1.weight",
        "transformer.resblocks.0.ln_2.bias",
        "transformer.resblocks.0.mlp.c_fc.weight",
        "transformer.resblocks.0.mlp.c_proj.bias",
        "ln_final.weight",
        "text_projection",
    ]
    expected = (
        [UNET_PREFIX + k for k in unet]
        + [VAE_PREFIX + k for k in vae]
        + [SDXL_TEXT_PREFIX + k for k in clip_l]
        + [OPEN_CLIP_PREFIX + k for k in open_clip]
    )
    for key in expected:
        assert key in state, key
    for key in absent:
        assert UNET_PREFIX + key not in state, key
    assert state[VAE_PREFIX + "encoder.mid.attn_1.q.weight"].ndim == 4
    # OpenCLIP keeps q, k and v in one projection, and its own names throughout.
    width = state[OPEN_CLIP_PREFIX + "positional_embedding"].shape[-1]
    assert state[OPEN_CLIP_PREFIX + "transformer.resblocks.9.attn.in_proj_weight"].shape == (
        3 * width,
        width,
    )
    assert not [k for k in state if k.startswith(OPEN_CLIP_PREFIX) and "_model." in k]
    assert infer_diffusers_model_type(state) == "xl_base"


def test_the_config_directory_holds_no_weights(config_dir: Path) -> None:
    assert (config_dir / "model_index.json").is_file()
    assert (config_dir / "unet" / "config.json").is_file()
    assert (config_dir / "tokenizer" / "vocab.json").is_file()
    assert not [p for p in config_dir.rglob("*") if p.suffix in (".safetensors", ".bin")]


# --------------------------------------------------------------------------- loading


def test_every_tensor_comes_from_the_single_file(tmp_path: Path, checkpoint: Checkpoint) -> None:
    import diffusers
    import torch

    config = str(checkpoint.config)
    engine = _engine(tmp_path, family=checkpoint.family, model=str(checkpoint.file), config=config)
    engine.generate([make_request()])
    pipe = engine.backend._pipes["text-to-image"]  # type: ignore[attr-defined]
    reference = diffusers.DiffusionPipeline.from_pretrained(str(checkpoint.model_dir))
    assert type(pipe) is type(reference)
    with_weights = [n for n, m in reference.components.items() if isinstance(m, torch.nn.Module)]
    assert sorted(with_weights) == sorted(checkpoint.modules)
    for name in checkpoint.modules:
        loaded, expected = getattr(pipe, name).state_dict(), getattr(reference, name).state_dict()
        assert loaded.keys() == expected.keys(), name
        different = [k for k in expected if not torch.equal(loaded[k], expected[k])]
        assert different == [], name
    assert pipe.scheduler.config == reference.scheduler.config


def test_single_file_generates_the_same_images_as_the_diffusers_layout(
    tmp_path: Path, checkpoint: Checkpoint
) -> None:
    """Byte-identical PNGs: the same tensors, configs and seeds run the same float ops."""
    requests = [
        make_request(prompts="a lighthouse", seeds=[21, 22]),
        make_request("image-to-image", seeds=[5], init_image=noise_image(seed=3)),
    ]
    family = checkpoint.family
    single = _engine(
        tmp_path / "single",
        family=family,
        model=str(checkpoint.file),
        config=str(checkpoint.config),
    )
    layout = _engine(tmp_path / "layout", family=family, model=str(checkpoint.model_dir))
    got = [png(i.image) for r in single.generate(requests) for i in r.images]
    expected = [png(i.image) for r in layout.generate(requests) for i in r.images]
    assert len(got) == 3
    assert got == expected


def test_a_single_file_inpainting_model_serves_masking(
    tmp_path: Path, tiny_sd_model: Path, tiny_inpaint_model: Path
) -> None:
    checkpoint = write_single_file(tiny_inpaint_model, tmp_path / "tiny-sd-inpainting.safetensors")
    configs = copy_configs(tiny_inpaint_model, tmp_path / "inpainting-config")
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (0, 0, 32, 64))
    request = make_request("masking", seeds=[7], init_image=noise_image(seed=1), mask=mask)
    single = _engine(
        tmp_path / "single",
        model=str(tiny_sd_model),
        inpaint_model=str(checkpoint),
        inpaint_config=str(configs),
    )
    layout = _engine(
        tmp_path / "layout", model=str(tiny_sd_model), inpaint_model=str(tiny_inpaint_model)
    )
    (got,) = single.generate([request])
    (expected,) = layout.generate([request])
    assert png(got.images[0].image) == png(expected.images[0].image)
    masking = single.backend._pipes["masking"]  # type: ignore[attr-defined]
    assert type(masking).__name__ == "StableDiffusionInpaintPipeline"
    assert masking.unet.config.in_channels == 9  # the file's inpainting UNet, not from_pipe


@pytest.mark.parametrize("configured", [True, False], ids=["config-repo-id", "inferred"])
def test_the_configuration_comes_from_the_hub_cache(
    tmp_path: Path, checkpoint: Checkpoint, hub_cache: Path, configured: bool
) -> None:
    # Without `config`, easel looks up the repo diffusers infers for the file.
    repo = CONFIG_REPO if configured else checkpoint.inferred_repo
    populate_hub_cache(hub_cache, repo, checkpoint.config)
    fields = {"config": CONFIG_REPO} if configured else {}
    family = checkpoint.family
    engine = _engine(tmp_path / "single", family=family, model=str(checkpoint.file), **fields)
    request = make_request(prompts="a lighthouse", seeds=[21])
    layout = _engine(tmp_path / "layout", family=family, model=str(checkpoint.model_dir))
    (got,) = engine.generate([request])
    (expected,) = layout.generate([request])
    assert png(got.images[0].image) == png(expected.images[0].image)


# --------------------------------------------------------------------------- refusals


def test_a_missing_configuration_is_a_clear_400(
    tmp_path: Path, checkpoint: Checkpoint, hub_cache: Path
) -> None:
    engine = _engine(tmp_path, family=checkpoint.family, model=str(checkpoint.file))
    with pytest.raises(InvalidRequest) as caught:
        engine.generate([make_request()])
    message = caught.value.message
    repo = checkpoint.inferred_repo
    assert caught.value.status == 400
    name = checkpoint.file.name
    assert f"Engine civitai-sd cannot load the single-file checkpoint {name}" in message
    assert f"({repo}) is not in the Hugging Face cache" in message
    fetch = f"hf download {repo} --include '*.json' --include '*.txt' --include '*.model'"
    assert fetch in message
    assert "Set the engine's config to a local diffusers-layout directory" in message
    assert not engine.loaded  # type: ignore[attr-defined]


def test_a_config_that_is_neither_directory_nor_cached_repo_is_refused(
    tmp_path: Path, single_file: Path, hub_cache: Path
) -> None:
    engine = _engine(tmp_path, model=str(single_file), config="easel-test/not-cached")
    with pytest.raises(InvalidRequest, match="neither a local directory nor a repo id"):
        engine.generate([make_request()])


def test_a_config_directory_without_model_index_is_refused(
    tmp_path: Path, single_file: Path
) -> None:
    (tmp_path / "not-a-pipeline").mkdir()
    engine = _engine(tmp_path, model=str(single_file), config=str(tmp_path / "not-a-pipeline"))
    with pytest.raises(InvalidRequest, match="has no model_index.json"):
        engine.generate([make_request()])


def test_a_missing_checkpoint_is_a_clear_400(tmp_path: Path, config_dir: Path) -> None:
    engine = _engine(tmp_path, model=str(tmp_path / "gone.safetensors"), config=str(config_dir))
    with pytest.raises(InvalidRequest, match=r"gone\.safetensors is not a file"):
        engine.generate([make_request()])


@pytest.mark.parametrize("with_config", [True, False])
@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
        pytest.param(lambda data: b"\xff" * 16 + data[16:], id="corrupt-header"),
        pytest.param(lambda data: b"PK\x03\x04 a zip renamed", id="another-format"),
        pytest.param(lambda data: b"", id="empty"),
    ],
)
def test_a_damaged_checkpoint_is_a_clear_400(
    tmp_path: Path,
    single_file: Path,
    config_dir: Path,
    hub_cache: Path,
    damage: Callable[[bytes], bytes],
    with_config: bool,
) -> None:
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(damage(single_file.read_bytes()))
    config = {"config": str(config_dir)} if with_config else {}
    engine = _engine(tmp_path, model=str(damaged), **config)
    with pytest.raises(InvalidRequest) as caught:
        engine.generate([make_request()])
    assert caught.value.status == 400
    assert "cannot load the single-file checkpoint damaged.safetensors" in caught.value.message
    assert "not a readable .safetensors file" in caught.value.message
    assert not engine.loaded  # type: ignore[attr-defined]


def test_a_checkpoint_without_tensors_is_refused(tmp_path: Path, config_dir: Path) -> None:
    from safetensors.torch import save_file

    empty = tmp_path / "empty.safetensors"
    save_file({}, str(empty))
    engine = _engine(tmp_path, model=str(empty), config=str(config_dir))
    with pytest.raises(InvalidRequest, match="holds no tensors"):
        engine.generate([make_request()])


@pytest.mark.parametrize("field", ["model", "inpaint_model"])
@pytest.mark.parametrize("name", ["v1-5-pruned-emaonly.ckpt", "model.PT", "weights.bin"])
def test_pickled_checkpoints_are_refused_in_the_settings(field: str, name: str) -> None:
    """An invalid engine entry fails `easel serve` at start ("error: invalid settings: …")."""
    from pydantic import ValidationError

    fields = {"model": "/models/sd15", field: f"/models/{name}"}
    with pytest.raises(ValidationError, match="pickled checkpoint") as caught:
        _spec(**fields)
    assert "runs any code it carries" in str(caught.value)
    assert "single-file checkpoints only as .safetensors" in str(caught.value)


def test_other_backends_keep_their_pth_files() -> None:
    spec = _spec(family="esrgan", kind="upscale", backend="esrgan", model="/m/x4.pth")
    assert spec.model == "/m/x4.pth"


@pytest.mark.parametrize(
    "fields",
    [
        {"model": "stable-diffusion-v1-5/stable-diffusion-v1-5", "config": "/cfg"},
        {"model": "/m.safetensors", "inpaint_model": "/inpaint", "inpaint_config": "/cfg"},
        {"backend": "sandbox", "model": None, "config": "/cfg"},
    ],
    ids=["repo-id-model", "directory-inpaint-model", "sandbox"],
)
def test_config_goes_only_with_a_single_file(fields: dict) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="configuration of a single-file checkpoint"):
        _spec(**fields)
