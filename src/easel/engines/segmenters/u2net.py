"""U²-Net (Qin et al. 2020), the salient-object network behind background removal.

Written here in the original repository's module and parameter names
(`stage1.rebnconvin.conv_s1.weight`, …, `side1`, `outconv`), so its published
weights (`u2net.pth`, 176 MB; `u2netp.pth`, 4.7 MB; `u2net_human_seg.pth`)
load as they are. Every channel width is read from the state dict
(`from_state_dict`), so the full model, the small one and easel's tiny
sandbox model are one class.

Each stage is a residual U-block (RSU-L): an input conv, an encoder of L-1
convs with max-pooling between them, a dilated bottom conv, and a decoder
that upsamples and concatenates back; RSU-4F replaces pooling with growing
dilation. Six encoder stages, five decoder stages, a side output per decoder
level and a 1x1 fusion of them; the fused map (after a sigmoid) is the mask.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["U2Net", "from_state_dict"]

# Encoder stages 1-6 and decoder stages 5d-1d: their RSU depth (4F: dilated, no pooling).
_ENCODER = ("7", "6", "5", "4", "4F", "4F")
_DECODER = ("4F", "4", "5", "6", "7")  # stage5d .. stage1d


class REBNCONV(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, dirate: int = 1):
        super().__init__()
        self.conv_s1 = nn.Conv2d(in_ch, out_ch, 3, padding=dirate, dilation=dirate)
        self.bn_s1 = nn.BatchNorm2d(out_ch)
        self.relu_s1 = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu_s1(self.bn_s1(self.conv_s1(x)))


def _up_like(src: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.interpolate(src, size=target.shape[2:], mode="bilinear", align_corners=False)


class RSU(nn.Module):
    """A residual U-block of `depth` levels; `dilated` is RSU-4F (no pooling)."""

    def __init__(self, depth: int, in_ch: int, mid_ch: int, out_ch: int, *, dilated: bool):
        super().__init__()
        self.depth, self.dilated = depth, dilated
        self.rebnconvin = REBNCONV(in_ch, out_ch)
        for level in range(1, depth):
            rate = 2 ** (level - 1) if dilated else 1
            self.add_module(
                f"rebnconv{level}", REBNCONV(out_ch if level == 1 else mid_ch, mid_ch, rate)
            )
            if not dilated and level < depth - 1:
                self.add_module(f"pool{level}", nn.MaxPool2d(2, stride=2, ceil_mode=True))
        bottom = 2 ** (depth - 1) if dilated else 2
        self.add_module(f"rebnconv{depth}", REBNCONV(mid_ch, mid_ch, bottom))
        for level in range(depth - 1, 0, -1):
            rate = 2 ** (level - 1) if dilated else 1
            out = out_ch if level == 1 else mid_ch
            self.add_module(f"rebnconv{level}d", REBNCONV(mid_ch * 2, out, rate))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hxin = self.rebnconvin(x)
        skips = []
        hx = hxin
        for level in range(1, self.depth):
            hx = getattr(self, f"rebnconv{level}")(hx)
            skips.append(hx)
            if not self.dilated and level < self.depth - 1:
                hx = getattr(self, f"pool{level}")(hx)
        hx = getattr(self, f"rebnconv{self.depth}")(hx)
        for level in range(self.depth - 1, 0, -1):
            skip = skips[level - 1]
            if hx.shape[2:] != skip.shape[2:]:
                hx = _up_like(hx, skip)
            hx = getattr(self, f"rebnconv{level}d")(torch.cat((hx, skip), 1))
        return hx + hxin


def _rsu(kind: str, in_ch: int, mid_ch: int, out_ch: int) -> RSU:
    return RSU(int(kind[0]), in_ch, mid_ch, out_ch, dilated=kind.endswith("F"))


class U2Net(nn.Module):
    """U²-Net with the given (in, mid, out) channels per stage.

    Args:
        encoder: six (in, mid, out) triples, stage1 .. stage6.
        decoder: five triples, stage5d .. stage1d.
        out_ch: mask channels (1).
    """

    def __init__(
        self,
        encoder: list[tuple[int, int, int]],
        decoder: list[tuple[int, int, int]],
        out_ch: int = 1,
    ):
        super().__init__()
        self.config = {"encoder": encoder, "decoder": decoder, "out_ch": out_ch}
        for i, (kind, channels) in enumerate(zip(_ENCODER, encoder, strict=True), start=1):
            self.add_module(f"stage{i}", _rsu(kind, *channels))
            if i < 6:
                self.add_module(f"pool{i}{i + 1}", nn.MaxPool2d(2, stride=2, ceil_mode=True))
        for i, (kind, channels) in zip(
            range(5, 0, -1), zip(_DECODER, decoder, strict=True), strict=True
        ):
            self.add_module(f"stage{i}d", _rsu(kind, *channels))
        # side outputs: stage1d..stage5d, and stage6
        side_in = [decoder[4 - i][2] for i in range(5)] + [encoder[5][2]]
        for i, width in enumerate(side_in, start=1):
            self.add_module(f"side{i}", nn.Conv2d(width, out_ch, 3, padding=1))
        self.outconv = nn.Conv2d(6 * out_ch, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The fused saliency map in 0-1, the input's size."""
        features = []
        hx = x
        for i in range(1, 7):
            hx = getattr(self, f"stage{i}")(hx)
            features.append(hx)
            if i < 6:
                hx = getattr(self, f"pool{i}{i + 1}")(hx)
        decoded = {6: features[5]}
        hx = features[5]
        for i in range(5, 0, -1):
            skip = features[i - 1]
            hx = getattr(self, f"stage{i}d")(torch.cat((_up_like(hx, skip), skip), 1))
            decoded[i] = hx
        sides = [getattr(self, f"side{i}")(decoded[i]) for i in range(1, 7)]
        sides = [sides[0]] + [_up_like(side, sides[0]) for side in sides[1:]]
        return torch.sigmoid(self.outconv(torch.cat(sides, 1)))


def _triple(state: Mapping[str, Any], stage: str) -> tuple[int, int, int]:
    conv_in = state[f"{stage}.rebnconvin.conv_s1.weight"]
    mid = state[f"{stage}.rebnconv1.conv_s1.weight"].shape[0]
    return int(conv_in.shape[1]), int(mid), int(conv_in.shape[0])


def from_state_dict(state: Mapping[str, Any]) -> U2Net:
    """A U²-Net shaped after `state` (the original's keys), with `state` loaded."""
    net = U2Net(
        encoder=[_triple(state, f"stage{i}") for i in range(1, 7)],
        decoder=[_triple(state, f"stage{i}d") for i in range(5, 0, -1)],
        out_ch=int(state["outconv.weight"].shape[0]),
    )
    net.load_state_dict(dict(state))
    return net
