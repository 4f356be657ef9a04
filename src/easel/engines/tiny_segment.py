"""Tiny local segmentation models for the edit sandbox: CLIPSeg and U²-Net.

Built like `easel.engines.tiny` builds its diffusion models (and registered
there): randomly initialised with fixed seeds, saved in the real layouts, so
the edit engines load them through the same code as real weights.

- ``clipseg``: `CLIPSegForImageSegmentation` with a 2-layer text encoder on
  the locally built CLIP tokenizer, a 3-layer ViT (64 px, patches of 16) and
  the FiLM-conditioned decoder reading two of its layers; saved with
  `save_pretrained` next to a `CLIPSegProcessor` (ViT image processor at
  64 px), as `CIDAS/clipseg-rd64-refined` is at 352 px.
- ``u2net``: a U²-Net with 4-8 channels per stage, saved as `model.pth` in
  the original repository's key layout (as `u2net.pth` is).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from easel.engines.tiny import _MAX_LENGTH, _TEXT_HIDDEN, _seed, _tokenizer, _vocab_and_merges

CLIPSEG_IMAGE_SIZE = 64
# (in, mid, out) per stage: encoder stage1..6, decoder stage5d..1d (U²-Net's own shape,
# with every width cut to 4-8 channels)
_U2NET_ENCODER = [(3, 4, 8), (8, 4, 8), (8, 4, 8), (8, 4, 8), (8, 4, 8), (8, 4, 8)]
_U2NET_DECODER = [(16, 4, 8), (16, 4, 8), (16, 4, 8), (16, 4, 8), (16, 4, 8)]


def build_clipseg(directory: Path) -> None:
    from transformers import (
        CLIPSegConfig,
        CLIPSegForImageSegmentation,
        CLIPSegProcessor,
        ViTImageProcessor,
    )

    tok_dir = directory / "_tokenizer_src"
    vocab, _ = _vocab_and_merges()
    tokenizer = _tokenizer(tok_dir)
    config = CLIPSegConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": _TEXT_HIDDEN,
            "intermediate_size": 37,
            "num_attention_heads": 4,
            "num_hidden_layers": 2,
            "max_position_embeddings": _MAX_LENGTH,
            "bos_token_id": vocab["<|startoftext|>"],
            "eos_token_id": vocab["<|endoftext|>"],
            "pad_token_id": vocab["<|endoftext|>"],
        },
        vision_config={
            "hidden_size": _TEXT_HIDDEN,
            "intermediate_size": 37,
            "num_attention_heads": 4,
            "num_hidden_layers": 3,
            "image_size": CLIPSEG_IMAGE_SIZE,
            "patch_size": 16,
        },
        projection_dim=_TEXT_HIDDEN,
        extract_layers=[1, 2],
        reduce_dim=16,
        decoder_num_attention_heads=2,
        decoder_intermediate_size=37,
    )
    _seed(51)
    model = CLIPSegForImageSegmentation(config)
    model.save_pretrained(str(directory), safe_serialization=True)
    image_processor = ViTImageProcessor(
        do_resize=True,
        size={"height": CLIPSEG_IMAGE_SIZE, "width": CLIPSEG_IMAGE_SIZE},
        image_mean=[0.485, 0.456, 0.406],  # CLIPSeg's ImageNet statistics
        image_std=[0.229, 0.224, 0.225],
    )
    CLIPSegProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(
        str(directory)
    )
    for filename in ("vocab.json", "merges.txt"):  # for slow-tokenizer transformers
        shutil.copyfile(tok_dir / filename, directory / filename)
    shutil.rmtree(tok_dir)


def build_u2net(directory: Path) -> None:
    import torch

    from easel.engines.segmenters.u2net import U2Net

    _seed(61)
    net = U2Net(encoder=_U2NET_ENCODER, decoder=_U2NET_DECODER)
    torch.save(net.state_dict(), directory / "model.pth")
