"""The models bench/gpu.py runs: real-size SD 1.5 and SDXL with random weights, or the tiny ones.

Real size: the architectures of runwayml/stable-diffusion-v1-5 and
stabilityai/stable-diffusion-xl-base-1.0, their configs written out below
(UNet2DConditionModel, AutoencoderKL, CLIP text encoders), initialised with
a fixed seed on the benchmark's device and saved in float16 in the diffusers
layout, so easel loads them like downloaded weights. A denoising step costs
the same whatever the weights' values, so the timings are those of the real
models. The tokenizer is easel's tiny CLIP tokenizer (every id it produces
exists in the real 49 408-entry embedding).

`--tiny`: easel's sandbox models (`easel.engines.tiny`), built on CPU.

Builds are atomic and kept under `--models-dir` (a marker file says complete),
so a second run on the same machine loads them at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SEED = 1234
CLIP_LENGTH = 77
CLIP_VOCAB = 49_408


@dataclass(frozen=True)
class Arch:
    """One benchmarked architecture and how easel serves it."""

    name: str  # "sd15", "sdxl"
    label: str
    family: str  # easel's engine family (dimension rules)
    size: int  # square image side of every measurement
    tiny: str  # easel.engines.tiny architecture used with --tiny


SD15 = Arch("sd15", "SD 1.5", family="sd1", size=512, tiny="sd")
SDXL = Arch("sdxl", "SDXL", family="sdxl", size=1024, tiny="sdxl")
# --tiny runs both tiny models at 128 px to stay quick on CPU; the sdxl-beta family is the
# one whose dimension rules accept 128x128 (the family only sets the rules, not the model).
TINY_SIZES = {"sd15": ("sdxl-beta", 128), "sdxl": ("sdxl-beta", 128)}
ARCHS = {arch.name: arch for arch in (SD15, SDXL)}


def ensure_model(arch: Arch, models_dir: Path, *, tiny: bool, device: str) -> Path:
    """The model directory for `arch`, built once under `models_dir`."""
    from easel.engines.tiny import ensure_built, ensure_tiny_model

    if tiny:
        return ensure_tiny_model(arch.tiny, models_dir)
    builders: dict[str, Callable[[Path], None]] = {
        "sd15": lambda directory: _build_sd15(directory, device),
        "sdxl": lambda directory: _build_sdxl(directory, device),
    }
    return ensure_built(models_dir / f"{arch.name}-random", builders[arch.name])


# --------------------------------------------------------------------------- configs

SD15_UNET: dict[str, Any] = {
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": (
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "DownBlock2D",
    ),
    "up_block_types": (
        "UpBlock2D",
        "CrossAttnUpBlock2D",
        "CrossAttnUpBlock2D",
        "CrossAttnUpBlock2D",
    ),
    "block_out_channels": (320, 640, 1280, 1280),
    "layers_per_block": 2,
    "cross_attention_dim": 768,
    "attention_head_dim": 8,
    "norm_num_groups": 32,
    "act_fn": "silu",
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "downsample_padding": 1,
    "mid_block_scale_factor": 1,
}

SDXL_UNET: dict[str, Any] = {
    "sample_size": 128,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    "block_out_channels": (320, 640, 1280),
    "layers_per_block": 2,
    "cross_attention_dim": 2048,
    "attention_head_dim": (5, 10, 20),
    "transformer_layers_per_block": (1, 2, 10),
    "use_linear_projection": True,
    "addition_embed_type": "text_time",
    "addition_time_embed_dim": 256,
    "projection_class_embeddings_input_dim": 2816,
    "norm_num_groups": 32,
    "act_fn": "silu",
    "flip_sin_to_cos": True,
    "freq_shift": 0,
}

VAE: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "block_out_channels": (128, 256, 512, 512),
    "layers_per_block": 2,
    "latent_channels": 4,
    "norm_num_groups": 32,
    "act_fn": "silu",
}
SD15_VAE = {**VAE, "sample_size": 512, "scaling_factor": 0.18215}
# SDXL's VAE overflows in float16: its config asks pipelines to upcast it.
SDXL_VAE = {**VAE, "sample_size": 1024, "scaling_factor": 0.13025, "force_upcast": True}

CLIP_L: dict[str, Any] = {  # SD 1.5's encoder, and SDXL's first
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "projection_dim": 768,
    "hidden_act": "quick_gelu",
}
CLIP_BIG_G: dict[str, Any] = {  # SDXL's second encoder (OpenCLIP ViT-bigG text tower)
    "hidden_size": 1280,
    "intermediate_size": 5120,
    "num_attention_heads": 20,
    "num_hidden_layers": 32,
    "projection_dim": 1280,
    "hidden_act": "gelu",
}

SD15_SCHEDULER: dict[str, Any] = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
}
SDXL_SCHEDULER: dict[str, Any] = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "steps_offset": 1,
    "timestep_spacing": "leading",
}


# --------------------------------------------------------------------------- builders


def text_encoder(sizes: dict[str, Any], *, projection: bool) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from easel.engines.tiny import clip_special_tokens

    config = CLIPTextConfig(
        vocab_size=CLIP_VOCAB,
        max_position_embeddings=CLIP_LENGTH,
        layer_norm_eps=1e-5,
        **sizes,
        **clip_special_tokens(),
    )
    cls = CLIPTextModelWithProjection if projection else CLIPTextModel
    return cls(config)


def _build(directory: Path, device: str, make: Callable[[Any], Any]) -> None:
    """Make the pipeline on `device` (initialising 3.5 B parameters on a CPU is slow), save fp16."""
    import torch

    from easel.engines.tiny import clip_tokenizer, save_pipeline

    tokenizer_dir = directory / "_tokenizer_src"
    tokenizer = clip_tokenizer(tokenizer_dir)
    torch.manual_seed(SEED)
    with torch.device(device):
        pipe = make(tokenizer)
    pipe.to(device="cpu", dtype=torch.float16)
    save_pipeline(pipe, directory, tokenizer_dir)


def _build_sd15(directory: Path, device: str) -> None:
    from diffusers import (
        AutoencoderKL,
        PNDMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )

    def make(tokenizer: Any) -> Any:
        return StableDiffusionPipeline(
            vae=AutoencoderKL(**SD15_VAE),
            text_encoder=text_encoder(CLIP_L, projection=False),
            tokenizer=tokenizer,
            unet=UNet2DConditionModel(**SD15_UNET),
            scheduler=PNDMScheduler(**SD15_SCHEDULER),
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )

    _build(directory, device, make)


def _build_sdxl(directory: Path, device: str) -> None:
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )

    def make(tokenizer: Any) -> Any:
        return StableDiffusionXLPipeline(
            vae=AutoencoderKL(**SDXL_VAE),
            text_encoder=text_encoder(CLIP_L, projection=False),
            text_encoder_2=text_encoder(CLIP_BIG_G, projection=True),
            tokenizer=tokenizer,
            tokenizer_2=tokenizer,
            unet=UNet2DConditionModel(**SDXL_UNET),
            scheduler=EulerDiscreteScheduler(**SDXL_SCHEDULER),
            force_zeros_for_empty_prompt=True,
            add_watermarker=False,
        )

    _build(directory, device, make)


def parameter_count(path: Path) -> int:
    """Parameters stored in a model directory's safetensors files."""
    from safetensors import safe_open

    total = 0
    for file in path.rglob("*.safetensors"):
        with safe_open(str(file), framework="pt") as weights:
            for key in weights.keys():  # noqa: SIM118 (safe_open has no __iter__)
                shape = weights.get_slice(key).get_shape()
                count = 1
                for side in shape:
                    count *= side
                total += count
    return total
