"""Real-ESRGAN-family super-resolution networks, loaded from weight files.

Why our own code and not spandrel: spandrel is the usual universal loader for
these architectures, but it imports torchvision, and there is no CPU
torchvision build for the torch (2.13) easel pins, while a CUDA torchvision
wheel breaks diffusers' imports. The two architectures the v1 API needs
(RRDBNet for Real-ESRGAN x2plus/x4plus, SRVGGNetCompact for the compact
realesr-* models) are about a hundred lines, so easel carries them
(`rrdb.py`, `srvgg.py`) with Real-ESRGAN's exact module names; released
weights load with `strict=True`.

`load_upscaler(path)` reads a `.pth` (`torch.load(weights_only=True)`, no
pickled code; the `params_ema` / `params` wrapping of Real-ESRGAN releases and
a `module.` prefix are unwrapped) or a `.safetensors` file, detects the
architecture and its hyper-parameters from the state-dict keys and shapes, and
returns the network in eval mode.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from easel.engines.upscalers.rrdb import RRDBNet
from easel.engines.upscalers.srvgg import SRVGGNetCompact

__all__ = ["LoadedUpscaler", "RRDBNet", "SRVGGNetCompact", "load_state_dict", "load_upscaler"]


@dataclass
class LoadedUpscaler:
    net: nn.Module
    scale: int  # the network's overall upscaling factor
    arch: str  # "RRDBNet" or "SRVGGNetCompact"


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a `.pth`/`.pt`/`.ckpt` or `.safetensors` file into a flat state dict."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state: object = load_file(str(path))
    else:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    if isinstance(state, dict):
        for wrapper in ("params_ema", "params", "state_dict", "model"):
            inner = state.get(wrapper)
            if isinstance(inner, dict):
                state = inner
                break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: not a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_upscaler(path: str | Path) -> LoadedUpscaler:
    """Load an RRDBNet or SRVGGNetCompact from `path`, detecting architecture and scale."""
    state = load_state_dict(path)
    net: RRDBNet | SRVGGNetCompact
    if "conv_first.weight" in state and "body.0.rdb1.conv1.weight" in state:
        net = _rrdbnet(state)
        scale, arch = net.scale, "RRDBNet"
    elif "body.0.weight" in state and "conv_first.weight" not in state:
        net = _srvgg(state)
        scale, arch = net.upscale, "SRVGGNetCompact"
    elif "model.0.weight" in state:
        raise ValueError(
            f"{path}: the original ESRGAN key layout (model.N) is not supported; "
            "use a Real-ESRGAN release (conv_first/body/conv_up*) or convert the weights"
        )
    else:
        raise ValueError(f"{path}: unrecognised upscaler architecture")
    net.load_state_dict(state, strict=True)
    net.eval().requires_grad_(False)
    return LoadedUpscaler(net=net, scale=scale, arch=arch)


def _rrdbnet(state: dict[str, torch.Tensor]) -> RRDBNet:
    if "conv_up3.weight" in state:
        raise ValueError("RRDBNet x8 variants are not supported")
    first = state["conv_first.weight"]
    num_feat, in_ch = int(first.shape[0]), int(first.shape[1])
    num_out_ch = int(state["conv_last.weight"].shape[0])
    # The net always upsamples x4 itself; x2 and x1 models pixel-unshuffle first,
    # which multiplies the input channels by 4 and 16.
    scale, num_in_ch = 4, in_ch
    for factor, unshuffled in ((2, 4), (1, 16)):
        if in_ch % unshuffled == 0 and in_ch // unshuffled in (1, 3, 4) and in_ch > 4:
            scale, num_in_ch = factor, in_ch // unshuffled
            break
    blocks = {int(m.group(1)) for k in state if (m := re.match(r"body\.(\d+)\.", k))}
    num_grow_ch = int(state["body.0.rdb1.conv1.weight"].shape[0])
    return RRDBNet(
        num_in_ch=num_in_ch,
        num_out_ch=num_out_ch,
        scale=scale,
        num_feat=num_feat,
        num_block=max(blocks) + 1,
        num_grow_ch=num_grow_ch,
    )


def _srvgg(state: dict[str, torch.Tensor]) -> SRVGGNetCompact:
    weights = {
        int(m.group(1)): v
        for k, v in state.items()
        if (m := re.fullmatch(r"body\.(\d+)\.weight", k))
    }
    convs = sorted(i for i, w in weights.items() if w.ndim == 4)
    first, last = weights[convs[0]], weights[convs[-1]]
    num_in_ch, num_feat = int(first.shape[1]), int(first.shape[0])
    num_out_ch = num_in_ch
    upscale = math.isqrt(int(last.shape[0]) // num_out_ch)
    if upscale * upscale * num_out_ch != int(last.shape[0]):
        raise ValueError("SRVGGNetCompact: cannot infer the upscale factor from the last conv")
    # PReLU activations carry a weight vector; ReLU/LeakyReLU carry none and
    # cannot be told apart from the weights, so LeakyReLU (Real-ESRGAN's other
    # option) is assumed. Every published compact model uses PReLU.
    has_prelu = any(w.ndim == 1 and i not in convs for i, w in weights.items())
    return SRVGGNetCompact(
        num_in_ch=num_in_ch,
        num_out_ch=num_out_ch,
        num_feat=num_feat,
        num_conv=len(convs) - 2,
        upscale=upscale,
        act_type="prelu" if has_prelu else "leakyrelu",
    )
