"""Write a diffusers-layout SD 1.x or SDXL model as one original `.safetensors` file.

The single-file checkpoints users download (`v1-5-pruned-emaonly.safetensors`,
`sd_xl_base_1.0.safetensors` and their fine-tunes) keep the key names of the
original latent-diffusion (SD 1.x) and generative-models (SDXL) code:

    model.diffusion_model.*       the UNet: input_blocks / middle_block / output_blocks,
                                  SDXL's added time/text embedding as label_emb.*
    first_stage_model.*           the VAE: encoder.down.* / decoder.up.* / mid.*

    SD 1.x:
    cond_stage_model.transformer.*          the CLIP text encoder (transformers' names)
    SDXL:
    conditioner.embedders.0.transformer.*   the CLIP-L text encoder (transformers' names)
    conditioner.embedders.1.model.*         the OpenCLIP bigG text encoder (open_clip's
                                            names: transformer.resblocks.*, ln_final, ...)

diffusers ships only the other direction (`diffusers.loaders.single_file_utils`
converts original checkpoints to diffusers), so this is the inverse, written
for the test-suite: enough of the layout (any number of levels, layers per
block, transformer depth and attention placement, read from the model's
configs) to turn the tiny SD and SDXL models into the files a user would have.
Every tensor of the model is written exactly once, unchanged except for the
VAE's attention projections, which the original code holds as 1x1
convolutions, and OpenCLIP's attention inputs and text projection (fused and
transposed; see `open_clip_state_dict`).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
TEXT_PREFIX = "cond_stage_model.transformer."
SDXL_TEXT_PREFIX = "conditioner.embedders.0.transformer."
OPEN_CLIP_PREFIX = "conditioner.embedders.1.model."

# Files of a diffusers-layout model that are configuration, not weights: what
# diffusers' `from_single_file` reads from `config` (its own hub download keeps
# the same patterns).
CONFIG_SUFFIXES = (".json", ".txt", ".model")

_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}
_UNET_TOP = {
    "conv_in": "input_blocks.0.0",
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    # SDXL's embedding of the pooled text and the size/crop conditioning
    "add_embedding.linear_1": "label_emb.0.0",
    "add_embedding.linear_2": "label_emb.0.2",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}
_VAE_TOP = {"conv_norm_out": "norm_out"}
_VAE_ATTENTION = {
    "group_norm": "norm",
    "to_q": "q",
    "to_k": "k",
    "to_v": "v",
    "to_out.0": "proj_out",
}
_OPEN_CLIP_TOP = {
    "embeddings.token_embedding.weight": "token_embedding.weight",
    "embeddings.position_embedding.weight": "positional_embedding",  # a bare tensor there
    "final_layer_norm.weight": "ln_final.weight",
    "final_layer_norm.bias": "ln_final.bias",
}
_OPEN_CLIP_LAYER = {
    "self_attn.out_proj": "attn.out_proj",
    "layer_norm1": "ln_1",
    "layer_norm2": "ln_2",
    "mlp.fc1": "mlp.c_fc",
    "mlp.fc2": "mlp.c_proj",
}


def _split(rest: str) -> tuple[str, str]:
    """`norm1.weight` -> (`norm1`, `weight`); `to_out.0.bias` -> (`to_out.0`, `bias`)."""
    module, _, param = rest.rpartition(".")
    return module, param


def unet_key(key: str, config: dict[str, Any]) -> str:
    """The original name of a diffusers `UNet2DConditionModel` parameter (SD 1.x, SDXL)."""
    per_block = config["layers_per_block"] + 1  # the resnets, then the down/upsampler
    module, param = _split(key)
    if module in _UNET_TOP:
        return f"{_UNET_TOP[module]}.{param}"
    if m := re.fullmatch(r"down_blocks\.(\d+)\.resnets\.(\d+)\.(\w+)", module):
        block = 1 + int(m[1]) * per_block + int(m[2])
        return f"input_blocks.{block}.0.{_RESNET[m[3]]}.{param}"
    if m := re.fullmatch(r"down_blocks\.(\d+)\.attentions\.(\d+)\.(.+)", module):
        block = 1 + int(m[1]) * per_block + int(m[2])
        return f"input_blocks.{block}.1.{m[3]}.{param}"
    if m := re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.conv", module):
        block = 1 + int(m[1]) * per_block + per_block - 1
        return f"input_blocks.{block}.0.op.{param}"
    if m := re.fullmatch(r"mid_block\.resnets\.(\d+)\.(\w+)", module):
        return f"middle_block.{2 * int(m[1])}.{_RESNET[m[2]]}.{param}"
    if m := re.fullmatch(r"mid_block\.attentions\.0\.(.+)", module):
        return f"middle_block.1.{m[1]}.{param}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.resnets\.(\d+)\.(\w+)", module):
        block = int(m[1]) * per_block + int(m[2])
        return f"output_blocks.{block}.0.{_RESNET[m[3]]}.{param}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.attentions\.(\d+)\.(.+)", module):
        block = int(m[1]) * per_block + int(m[2])
        return f"output_blocks.{block}.1.{m[3]}.{param}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.upsamplers\.0\.conv", module):
        up = int(m[1])
        block = up * per_block + per_block - 1
        # The upsampler follows the block's last resnet and, if it has one, its attention.
        slot = 2 if config["up_block_types"][up].startswith("CrossAttn") else 1
        return f"output_blocks.{block}.{slot}.conv.{param}"
    raise ValueError(f"no original name for UNet parameter {key!r}")


def vae_key(key: str, config: dict[str, Any]) -> str:
    """The original name of a diffusers `AutoencoderKL` parameter."""
    levels = len(config["block_out_channels"])
    module, param = _split(key)
    if module in ("quant_conv", "post_quant_conv"):
        return key
    if m := re.fullmatch(r"(encoder|decoder)\.(conv_in|conv_out|conv_norm_out)", module):
        return f"{m[1]}.{_VAE_TOP.get(m[2], m[2])}.{param}"
    if m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(\w+)", module):
        return f"encoder.down.{m[1]}.block.{m[2]}.{_vae_resnet(m[3])}.{param}"
    if m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv", module):
        return f"encoder.down.{m[1]}.downsample.conv.{param}"
    # The original decoder numbers its levels from the lowest resolution up:
    # diffusers' up_blocks.0 (the first to run) is the original up.<levels - 1>.
    if m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(\w+)", module):
        level = levels - 1 - int(m[1])
        return f"decoder.up.{level}.block.{m[2]}.{_vae_resnet(m[3])}.{param}"
    if m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv", module):
        return f"decoder.up.{levels - 1 - int(m[1])}.upsample.conv.{param}"
    if m := re.fullmatch(r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(\w+)", module):
        return f"{m[1]}.mid.block_{int(m[2]) + 1}.{_vae_resnet(m[3])}.{param}"
    if m := re.fullmatch(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.+)", module):
        return f"{m[1]}.mid.attn_1.{_VAE_ATTENTION[m[2]]}.{param}"
    raise ValueError(f"no original name for VAE parameter {key!r}")


def _vae_resnet(name: str) -> str:
    return "nin_shortcut" if name == "conv_shortcut" else name


def text_key(key: str, prefix: str = TEXT_PREFIX) -> str:
    """The original name of a CLIP text encoder parameter (transformers' names, wrapped).

    Recent transformers flatten `CLIPTextModel` (no `text_model.` level); the
    original checkpoints have it.
    """
    return prefix + (key if key.startswith("text_model.") else f"text_model.{key}")


def open_clip_state_dict(state: dict[str, Any]) -> dict[str, Any]:
    """A `CLIPTextModelWithProjection` state dict under OpenCLIP's names (no prefix).

    OpenCLIP's attention is `torch.nn.MultiheadAttention`: one `in_proj` holding
    q, k and v stacked in that order (diffusers splits it in thirds). Its
    `text_projection` is a matrix the pooled output is multiplied by
    (`x @ text_projection`), so it is the transpose of transformers' linear weight.
    """
    import torch

    out: dict[str, Any] = {}
    qkv: dict[tuple[str, str], dict[str, Any]] = {}
    for key, tensor in state.items():
        if key == "text_projection.weight":
            out["text_projection"] = tensor.T
            continue
        name = key.removeprefix("text_model.")
        module, param = _split(name)
        if name in _OPEN_CLIP_TOP:
            out[_OPEN_CLIP_TOP[name]] = tensor
        elif m := re.fullmatch(r"encoder\.layers\.(\d+)\.self_attn\.([qkv])_proj", module):
            qkv.setdefault((m[1], param), {})[m[2]] = tensor
        elif m := re.fullmatch(r"encoder\.layers\.(\d+)\.(.+)", module):
            out[f"transformer.resblocks.{m[1]}.{_OPEN_CLIP_LAYER[m[2]]}.{param}"] = tensor
        else:
            raise ValueError(f"no original name for OpenCLIP parameter {key!r}")
    for (layer, param), parts in qkv.items():
        fused = torch.cat([parts["q"], parts["k"], parts["v"]])
        out[f"transformer.resblocks.{layer}.attn.in_proj_{param}"] = fused
    return out


def original_state_dict(model_dir: Path) -> dict[str, Any]:
    """The tensors of the SD 1.x or SDXL model in `model_dir`, under their original names."""
    import diffusers
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    unet = diffusers.UNet2DConditionModel.from_pretrained(model_dir / "unet")
    vae = diffusers.AutoencoderKL.from_pretrained(model_dir / "vae")
    text = CLIPTextModel.from_pretrained(model_dir / "text_encoder")
    state: dict[str, Any] = {}

    def put(key: str, tensor: Any) -> None:
        assert key not in state, f"two tensors map to {key}"
        state[key] = tensor.detach().clone().contiguous()

    for key, tensor in unet.state_dict().items():
        put(UNET_PREFIX + unet_key(key, dict(unet.config)), tensor)
    for key, tensor in vae.state_dict().items():
        if ".mid_block.attentions." in key and key.endswith(".weight") and tensor.ndim == 2:
            tensor = tensor[:, :, None, None]  # the original attention uses 1x1 convolutions
        put(VAE_PREFIX + vae_key(key, dict(vae.config)), tensor)
    sdxl = (model_dir / "text_encoder_2").is_dir()
    for key, tensor in text.state_dict().items():
        put(text_key(key, SDXL_TEXT_PREFIX if sdxl else TEXT_PREFIX), tensor)
    if sdxl:
        text_2 = CLIPTextModelWithProjection.from_pretrained(model_dir / "text_encoder_2")
        for key, tensor in open_clip_state_dict(text_2.state_dict()).items():
            put(OPEN_CLIP_PREFIX + key, tensor)
    return state


def write_single_file(model_dir: Path, path: Path) -> Path:
    """Save the SD 1.x or SDXL model in `model_dir` as the original single file `path`."""
    from safetensors.torch import save_file

    save_file(original_state_dict(model_dir), str(path))
    return path


def copy_configs(model_dir: Path, target: Path) -> Path:
    """The configuration files of `model_dir` (no weights) in `target`, same layout.

    This is what a single-file checkpoint needs beside it: what
    `hf download <repo> --include "*.json" --include "*.txt" --include "*.model"`
    fetches.
    """
    for source in model_dir.rglob("*"):
        if source.is_file() and source.suffix in CONFIG_SUFFIXES:
            dest = target / source.relative_to(model_dir)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, dest)
    assert json.loads((target / "model_index.json").read_text())["_class_name"]
    return target
