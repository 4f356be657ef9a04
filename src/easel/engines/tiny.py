"""Tiny local models of the real Stable Diffusion architectures.

The sandbox and the test-suite need models that exercise the real diffusers
loading and sampling code without downloading weights. This module builds
them: small, randomly initialised (with fixed seeds) versions of the real
architectures, saved with `save_pretrained` in the diffusers layout
(`model_index.json`, one sub-folder per component, a locally written CLIP
tokenizer), so `from_pretrained(<directory>)` loads them exactly like real
weights.

Sizes were chosen so the sandbox is quick on a laptop CPU while the shapes
match real SD: a UNet with block_out_channels (32, 64), two layers per block
and cross-attention dim 32; CLIP text encoders of hidden size 32 and 5 layers
(SDXL's second: 48 and 10, see `_SDXL_TEXT_2_HIDDEN`); and a VAE with four
levels (8, 16, 32, 32), so a 512 px image gives a 64x64 latent as in real SD
(the two-level VAE of the diffusers test-suite would run the UNet on 256x256
latents at 512 px). One SD model is about 7 MB on disk; 512 px at 20
steps takes about 3.5 s on two CPU cores.

Building is idempotent and safe across processes: a model is built into a
temporary sibling directory, a marker file is written last, and the directory
is renamed into place atomically. A directory holding the marker is reused.

Architectures (`TINY_ARCHITECTURES`):

- ``sd``: SD 1.x/2.x text-to-image (UNet2DConditionModel, AutoencoderKL,
  CLIPTextModel, CLIPTokenizer, PNDM scheduler as in SD 1.5).
- ``sdxl``: SDXL (two text encoders, the second a CLIPTextModelWithProjection
  wider than the first, as OpenCLIP bigG is wider than CLIP-L; UNet with
  ``addition_embed_type="text_time"``; Euler scheduler).
- ``sd-inpaint``: SD inpainting (UNet with 9 input channels).
- ``sd-x4-upscaler``: the x4 upscaler (UNet with 7 input channels and noise
  level class embeddings, a DDPM ``low_res_scheduler``, a three-level VAE with
  scale factor 4).
- ``sd3``: SD 3 / 3.5 (SD3Transformer2DModel, MMDiT with patch size 2; two
  CLIPTextModelWithProjection encoders whose pooled outputs add up to the
  transformer's pooled projection; a T5EncoderModel with a locally built
  Unigram T5 tokenizer; a 16-channel VAE with SD3's shift and scaling factors;
  FlowMatchEulerDiscreteScheduler with SD 3.5's shift of 3). The VAE has four
  levels (4, 8, 16, 32), so 1024 px gives a 128x128 latent as in real SD3,
  and no attention in its mid block: at 1024 px that attention runs over
  16 384 positions and took 60 % of a 4-step generation on CPU.
- ``esrgan-x2`` / ``esrgan-x4``: tiny Real-ESRGAN RRDBNets saved as a `.pth`
  state dict in Real-ESRGAN's key layout (see `easel.engines.upscalers`).
- ``svd`` (Stable Video Diffusion) and ``depth-anything`` (a depth estimator
  for image-to-3D): see `easel.engines.tiny_media`.
- ``clipseg`` / ``u2net``: the edit engines' segmentation models (CLIPSeg for
  text-prompted masks, U²-Net for background removal); see `tiny_segment`.
- ``sdxl-controlnet``: a ControlNetModel for the tiny SDXL UNet, made with
  `ControlNetModel.from_unet` as ControlNet training starts. Training starts
  its zero convolutions at zero, which would make the control have no effect
  at all; here they get small random weights (fixed seed), and the control
  image's embedding layers larger ones (Kaiming, doubled), so a control image
  visibly steers the output, as a trained ControlNet's does.
- ``sdxl-ip-adapter``: an IP-Adapter for the tiny SDXL UNet in the layout
  diffusers' `load_ip_adapter` reads (h94/IP-Adapter's): ``ip-adapter.safetensors``
  with ``image_proj.*`` (a linear projection of the image embedding to 4
  tokens, as IP-Adapter's `ImageProjection`) and ``ip_adapter.<n>.to_k_ip`` /
  ``to_v_ip`` for every cross-attention layer (odd n, in the UNet's processor
  order), plus a tiny CLIPVisionModelWithProjection in ``image_encoder/``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from easel.engines import tiny_media
from easel.engines.backends._common import quiet_hf

MARKER = ".easel-tiny-complete"
TINY_ARCHITECTURES = (
    "sd",
    "sdxl",
    "sd3",
    "sd-inpaint",
    "sd-x4-upscaler",
    "esrgan-x2",
    "esrgan-x4",
    "svd",
    "depth-anything",
    "clipseg",
    "u2net",
    "sdxl-controlnet",
    "sdxl-ip-adapter",
)

_BUILD_LOCK = threading.Lock()

# Bumped when the architecture or initialisation changes, so stale sandbox
# models built by an older easel are rebuilt rather than reused.
TINY_VERSION = "5"

_MAX_LENGTH = 77
_TEXT_HIDDEN = 32
# SDXL's second encoder (OpenCLIP bigG: 1280 wide, 32 layers) is wider than its
# first (CLIP-L: 768) and deeper than 9 layers. diffusers' single-file loader
# relies on both: it tells the encoders apart by width (with equal widths it
# loads CLIP-L's weights into both) and recognises an SDXL checkpoint by bigG's
# 10th layer (`resblocks.9`), so the tiny model keeps both properties.
_SDXL_TEXT_2_HIDDEN, _SDXL_TEXT_2_LAYERS = 48, 10

# Words the tiny tokenizer knows as whole tokens (everything else is spelled
# out byte by byte, like a real byte-level BPE does for rare words). Covers
# common prompt words and the style-preset templates, so typical prompts fit
# in CLIP's 77 tokens.
_WORDS = """
a an the of and in on with at by for from to is are this that it its as or
photo photograph picture image art artwork painting drawing illustration render
style film still cinematic anime digital comic book fantasy line neon punk
isometric low poly origami paper model modeling compound clay plasticine 3d
pixel tile texture analog vintage retro portrait landscape city street night
day light lighting dark bright color colors colorful detailed highly high
quality resolution sharp focus beautiful epic dramatic moody vibrant soft hard
shallow depth field bokeh grain grainy kodak professional studio octane
unreal engine concept key visual manga cel shading shaded graphic novel
minimalist simple clean background white black red green blue yellow orange
purple pink gold silver cat dog bird horse dragon castle forest mountain river
sea ocean sky cloud clouds sun moon star stars space planet robot car house
tree flower flowers water fire snow rain man woman girl boy child face eyes
hair hand people person ugly deformed blurry noisy low bad worst text watermark
signature realistic photorealistic hyperrealistic sketch sketchy messy
amateur cartoon cartoonish disfigured mutated extra limbs cropped out frame
jpeg artifacts duplicate overexposed underexposed saturated desaturated flat
perspective vector uhd hdr masterpiece award winning trending neonpunk cyberpunk
vaporwave claymation play doh sculpture painterly illustrative matte ethereal
magical dreamy vignette faded grain budget gorgeous volumetric render blocky
""".split()


def ensure_tiny_model(arch: str, root: Path) -> Path:
    """Build (once) the tiny model `arch` under `root/arch` and return its path.

    For ``esrgan-*`` the returned path is the `.pth` file inside that directory.
    """
    if arch not in _BUILDERS:
        raise ValueError(
            f"unknown tiny architecture {arch!r}; expected one of {TINY_ARCHITECTURES}"
        )
    target = ensure_built(Path(root) / arch, _BUILDERS[arch])
    if arch.startswith("esrgan") or arch == "u2net":
        return target / "model.pth"
    return target


def ensure_built(target: Path, build: Callable[[Path], None]) -> Path:
    """Run `build(directory)` once for `target`, atomically (as tiny models are built).

    Other model builders (bench/gpu.py's real-size architectures) use it too.
    """
    if not _complete(target):
        import torch

        quiet_hf()
        # One build at a time per process (builds seed torch's global RNG);
        # other processes are handled by the atomic rename. The caller's RNG
        # state is left as it was.
        with _BUILD_LOCK, torch.random.fork_rng(devices=[]):
            if not _complete(target):
                _build_atomically(target, build)
    return target


def _complete(target: Path) -> bool:
    marker = target / MARKER
    return marker.is_file() and marker.read_text() == TINY_VERSION


def _build_atomically(target: Path, build: Callable[[Path], None]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; the model may be shared
    try:
        build(tmp)
        (tmp / MARKER).write_text(TINY_VERSION)
        try:
            os.replace(tmp, target)
        except OSError:
            # `target` exists: either another process finished first (reuse
            # it) or it is an incomplete/stale build (replace it).
            if _complete(target):
                return
            stale = target.with_name(f".{target.name}-stale-{os.getpid()}")
            os.replace(target, stale)
            shutil.rmtree(stale, ignore_errors=True)
            os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------- tokenizer


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2 / CLIP byte-level mapping from bytes to printable characters."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs), strict=True))


def _bpe(word: str, ranks: dict[tuple[str, str], int]) -> list[str]:
    """CLIP's BPE on one word: merge the best-ranked adjacent pair until none applies."""
    symbols = list(word[:-1]) + [word[-1] + "</w>"]
    while len(symbols) > 1:
        candidates = [pair for pair in zip(symbols, symbols[1:], strict=False) if pair in ranks]
        if not candidates:
            break
        best = min(candidates, key=ranks.__getitem__)
        merged: list[str] = []
        i = 0
        while i < len(symbols):
            if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                merged.append(symbols[i] + symbols[i + 1])
                i += 2
            else:
                merged.append(symbols[i])
                i += 1
        symbols = merged
    return symbols


def _vocab_and_merges() -> tuple[dict[str, int], list[str]]:
    """A small deterministic byte-level BPE vocabulary in CLIP's format.

    Every single byte (alone and word-final) is a token; each word of `_WORDS`
    becomes one token through merges that are only ever appended at the lowest
    priority, so adding a word never changes how earlier words split.
    """
    chars = list(_bytes_to_unicode().values())
    tokens: list[str] = chars + [c + "</w>" for c in chars]
    known = set(tokens)
    ranks: dict[tuple[str, str], int] = {}
    for word in dict.fromkeys(_WORDS):  # dedupe, keep order
        if not word.isalpha():
            continue  # CLIP's pre-tokenizer splits digits off anyway
        while len(symbols := _bpe(word, ranks)) > 1:
            pair = (symbols[0], symbols[1])
            ranks[pair] = len(ranks)
            if pair[0] + pair[1] not in known:
                known.add(pair[0] + pair[1])
                tokens.append(pair[0] + pair[1])
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    merges = [f"{a} {b}" for (a, b), _ in sorted(ranks.items(), key=lambda item: item[1])]
    return {tok: i for i, tok in enumerate(tokens)}, merges


def _tokenizer(work_dir: Path) -> Any:
    """A CLIP tokenizer built from a vocab.json/merges.txt written into `work_dir`.

    Built directly rather than with `from_pretrained`, which would record
    environment-dependent loading options in the saved tokenizer_config.json.
    """
    from transformers import CLIPTokenizer

    work_dir.mkdir(parents=True, exist_ok=True)
    vocab, merges = _vocab_and_merges()
    (work_dir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    (work_dir / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    return CLIPTokenizer(
        vocab=str(work_dir / "vocab.json"),
        merges=str(work_dir / "merges.txt"),
        model_max_length=_MAX_LENGTH,
    )


def _vocab_size() -> int:
    return len(_vocab_and_merges()[0])


def _t5_tokenizer() -> Any:
    """A T5 tokenizer (Unigram, as T5's SentencePiece model) built from a word list.

    T5's special tokens first (<pad> 0, </s> 1, <unk> 2), then the metaspace
    token, the words of `_WORDS` and single characters, so every ASCII prompt
    tokenizes without unknowns; no sentencepiece model file is needed.
    """
    from transformers import T5Tokenizer

    vocab: list[tuple[str, float]] = [
        ("<pad>", 0.0),
        ("</s>", 0.0),
        ("<unk>", 0.0),
        ("\u2581", -2.0),
    ]
    vocab += [("\u2581" + word, -5.0) for word in dict.fromkeys(_WORDS)]
    vocab += [(chr(c), -10.0) for c in range(33, 127)]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=512)


def clip_tokenizer(work_dir: Path) -> Any:
    """The tiny CLIP tokenizer (its vocab files written into `work_dir`), for other builders.

    Save the pipeline with `save_pipeline(pipe, directory, work_dir)`.
    """
    return _tokenizer(work_dir)


def clip_special_tokens() -> dict[str, Any]:
    """bos/eos/pad ids of `clip_tokenizer`, for a CLIPTextConfig of any size."""
    vocab, _ = _vocab_and_merges()
    start, end = vocab["<|startoftext|>"], vocab["<|endoftext|>"]
    return {"bos_token_id": start, "eos_token_id": end, "pad_token_id": end}


def save_pipeline(pipe: Any, directory: Path, tokenizer_dir: Path) -> None:
    """Save `pipe` made with `clip_tokenizer(tokenizer_dir)` in the diffusers layout."""
    _save(pipe, directory, tokenizer_dir)


# --------------------------------------------------------------------------- components


def _seed(seed: int) -> None:
    import torch

    torch.manual_seed(seed)


def _text_encoder(
    vocab_size: int,
    *,
    seed: int,
    with_projection: bool = False,
    hidden: int = _TEXT_HIDDEN,
    layers: int = 5,
) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=layers,
        max_position_embeddings=_MAX_LENGTH,
        projection_dim=hidden,
        hidden_act="gelu",
        layer_norm_eps=1e-5,
        **clip_special_tokens(),
    )
    _seed(seed)
    cls = CLIPTextModelWithProjection if with_projection else CLIPTextModel
    return cls(config)


def _vae(
    *,
    seed: int,
    levels: tuple[int, ...] = (8, 16, 32, 32),
    scaling_factor: float = 0.18215,
    **extra: Any,
) -> Any:
    from diffusers import AutoencoderKL

    _seed(seed)
    kwargs: dict[str, Any] = dict(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * len(levels),
        up_block_types=("UpDecoderBlock2D",) * len(levels),
        block_out_channels=levels,
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=4,
        sample_size=512,
        scaling_factor=scaling_factor,
        # Real SDXL VAEs upcast to float32 in half precision; the tiny one is
        # stable in float16 and upcasting only logs noise.
        force_upcast=False,
    )
    kwargs.update(extra)
    return AutoencoderKL(**kwargs)


def _sd_unet(*, in_channels: int, seed: int, **extra: Any) -> Any:
    from diffusers import UNet2DConditionModel

    _seed(seed)
    kwargs = {
        "sample_size": 64,
        "in_channels": in_channels,
        "out_channels": 4,
        "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
        "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
        "block_out_channels": (32, 64),
        "layers_per_block": 2,
        "cross_attention_dim": _TEXT_HIDDEN,
        # diffusers' `attention_head_dim` is the number of heads here: 4 heads of 16
        # channels run ~2x faster on CPU than 8 heads of 8.
        "attention_head_dim": 4,
        "norm_num_groups": 32,
    }
    kwargs.update(extra)
    return UNet2DConditionModel(**kwargs)


def _sd_scheduler():
    from diffusers import PNDMScheduler

    # SD 1.5's scheduler config.
    return PNDMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        set_alpha_to_one=False,
        skip_prk_steps=True,
        steps_offset=1,
    )


def _save(pipe: Any, directory: Path, tok_dir: Path) -> None:
    """Save `pipe` and add the hand-written vocab.json/merges.txt to each tokenizer.

    Recent transformers save only tokenizer.json; the plain BPE files keep the
    model loadable by older (slow-tokenizer) transformers as well.
    """
    pipe.save_pretrained(str(directory), safe_serialization=True)
    for name in ("tokenizer", "tokenizer_2"):
        if (directory / name).is_dir():
            for filename in ("vocab.json", "merges.txt"):
                shutil.copyfile(tok_dir / filename, directory / name / filename)
    shutil.rmtree(tok_dir)


def _build_sd(directory: Path, *, inpaint: bool = False) -> None:
    from diffusers import StableDiffusionInpaintPipeline, StableDiffusionPipeline

    tok_dir = directory / "_tokenizer_src"
    vocab_size = _vocab_size()
    tokenizer = _tokenizer(tok_dir)
    cls = StableDiffusionInpaintPipeline if inpaint else StableDiffusionPipeline
    pipe = cls(
        vae=_vae(seed=1),
        text_encoder=_text_encoder(vocab_size, seed=2),
        tokenizer=tokenizer,
        unet=_sd_unet(in_channels=9 if inpaint else 4, seed=3),
        scheduler=_sd_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    _save(pipe, directory, tok_dir)


def _build_sd_inpaint(directory: Path) -> None:
    _build_sd(directory, inpaint=True)


def _sdxl_unet() -> Any:
    """The tiny SDXL UNet (the same weights every time: fixed seed)."""
    time_dim = 8
    return _sd_unet(
        in_channels=4,
        seed=13,
        # Three levels with attention only at 1/4 latent resolution, as real SDXL
        # keeps it off its largest level: at 1024 px attention over the 64×64
        # level made a step take 2.7 s on 2 cores; at 32×32 it takes 0.5 s.
        down_block_types=("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        block_out_channels=(32, 64, 64),
        # both encoders' hidden states, concatenated
        cross_attention_dim=_TEXT_HIDDEN + _SDXL_TEXT_2_HIDDEN,
        attention_head_dim=(2, 4, 4),
        use_linear_projection=True,
        transformer_layers_per_block=(1, 1, 2),
        addition_embed_type="text_time",
        addition_time_embed_dim=time_dim,
        # six micro-conditioning ids, plus the pooled projection of encoder 2
        projection_class_embeddings_input_dim=6 * time_dim + _SDXL_TEXT_2_HIDDEN,
        sample_size=128,
    )


def _build_sdxl(directory: Path) -> None:
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline

    tok_dir = directory / "_tokenizer_src"
    vocab_size = _vocab_size()
    tokenizer, tokenizer_2 = _tokenizer(tok_dir), _tokenizer(tok_dir)
    unet = _sdxl_unet()
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        steps_offset=1,
        timestep_spacing="leading",
    )
    pipe = StableDiffusionXLPipeline(
        vae=_vae(seed=11, scaling_factor=0.13025),
        text_encoder=_text_encoder(vocab_size, seed=12),
        text_encoder_2=_text_encoder(
            vocab_size,
            seed=14,
            with_projection=True,
            hidden=_SDXL_TEXT_2_HIDDEN,
            layers=_SDXL_TEXT_2_LAYERS,
        ),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        unet=unet,
        scheduler=scheduler,
        force_zeros_for_empty_prompt=True,
        add_watermarker=False,
    )
    _save(pipe, directory, tok_dir)


def _build_sd3(directory: Path) -> None:
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        SD3Transformer2DModel,
        StableDiffusion3Pipeline,
    )
    from transformers import T5Config, T5EncoderModel

    tok_dir = directory / "_tokenizer_src"
    vocab_size = _vocab_size()
    tokenizer, tokenizer_2 = _tokenizer(tok_dir), _tokenizer(tok_dir)
    tokenizer_3 = _t5_tokenizer()
    _seed(43)
    text_encoder_3 = T5EncoderModel(
        T5Config(
            vocab_size=len(tokenizer_3),
            d_model=_TEXT_HIDDEN,
            d_kv=8,
            d_ff=37,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=8,
            pad_token_id=0,
            eos_token_id=1,
        )
    )
    _seed(44)
    transformer = SD3Transformer2DModel(
        sample_size=128,  # latent side of the default 1024 px output
        patch_size=2,
        in_channels=16,
        out_channels=16,
        num_layers=2,
        # 2 heads of 16 channels: 3x faster on CPU than 4 heads of 8 at 1024 px
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=_TEXT_HIDDEN,  # CLIP hidden states, padded, and T5 states
        caption_projection_dim=32,
        pooled_projection_dim=2 * _TEXT_HIDDEN,  # both CLIP projections, concatenated
        pos_embed_max_size=96,  # as SD3: latent sides up to 192 (1536 px)
    )
    pipe = StableDiffusion3Pipeline(
        transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0),
        vae=_vae(
            seed=41,
            levels=(4, 8, 16, 32),
            latent_channels=16,
            scaling_factor=1.5305,  # SD3's VAE factors
            shift_factor=0.0609,
            use_quant_conv=False,
            use_post_quant_conv=False,
            mid_block_add_attention=False,
            sample_size=1024,
        ),
        text_encoder=_text_encoder(vocab_size, seed=42, with_projection=True),
        text_encoder_2=_text_encoder(vocab_size, seed=45, with_projection=True),
        text_encoder_3=text_encoder_3,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        tokenizer_3=tokenizer_3,
    )
    _save(pipe, directory, tok_dir)


def _build_x4_upscaler(directory: Path) -> None:
    from diffusers import DDIMScheduler, DDPMScheduler, StableDiffusionUpscalePipeline

    tok_dir = directory / "_tokenizer_src"
    vocab_size = _vocab_size()
    tokenizer = _tokenizer(tok_dir)
    unet = _sd_unet(
        in_channels=7,  # 4 latent channels + the 3 channels of the noised low-res image
        seed=23,
        block_out_channels=(32, 32, 64),
        # attention only at the lowest level: at 1/2 resolution a 512 px output's
        # 4096-token self-attention was two thirds of each step (25 s for 10 steps)
        down_block_types=("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        use_linear_projection=True,
        num_class_embeds=1000,  # the noise level is a class label, as in the real model
        sample_size=128,
    )
    pipe = StableDiffusionUpscalePipeline(
        # three levels: the VAE scale factor is 4, which makes this an x4 upscaler
        vae=_vae(seed=21, levels=(8, 16, 32), scaling_factor=0.08333),
        text_encoder=_text_encoder(vocab_size, seed=22),
        tokenizer=tokenizer,
        unet=unet,
        low_res_scheduler=DDPMScheduler(num_train_timesteps=1000, beta_schedule="scaled_linear"),
        scheduler=DDIMScheduler(
            num_train_timesteps=1000,
            beta_schedule="scaled_linear",
            prediction_type="v_prediction",
            clip_sample=False,
            set_alpha_to_one=False,
            steps_offset=1,
        ),
        max_noise_level=350,
    )
    _save(pipe, directory, tok_dir)


def _build_esrgan(directory: Path, *, scale: int) -> None:
    import torch

    from easel.engines.upscalers.rrdb import RRDBNet

    _seed(31 + scale)
    net = RRDBNet(scale=scale, num_feat=8, num_block=1, num_grow_ch=4)
    torch.save({"params_ema": net.state_dict()}, directory / "model.pth")


def _tiny_segment() -> Any:
    from easel.engines import tiny_segment  # imports this module: loaded on first use

    return tiny_segment


def _build_sdxl_controlnet(directory: Path) -> None:
    import torch
    from diffusers import ControlNetModel

    controlnet = ControlNetModel.from_unet(_sdxl_unet())
    _seed(51)
    with torch.no_grad():
        for name, parameter in controlnet.named_parameters():
            if parameter.ndim < 2:
                continue
            if name.startswith("controlnet_cond_embedding."):
                # Default initialisation shrinks the control image's signal through
                # the embedding's eight layers until it changes nothing (measured:
                # a black and a white control image gave outputs 1/255 apart).
                torch.nn.init.kaiming_normal_(parameter)
                parameter.mul_(2.0)
            elif not parameter.any():  # a zero-initialised convolution
                # Small enough that the residuals leave room for the prompt and an
                # IP-Adapter (at 0.05 they drowned the adapter's effect entirely).
                parameter.normal_(0.0, 0.002)
    controlnet.save_pretrained(str(directory), safe_serialization=True)


IP_ADAPTER_WEIGHTS = "ip-adapter.safetensors"
_IP_ADAPTER_TOKENS = 4


def _build_sdxl_ip_adapter(directory: Path) -> None:
    import torch
    from safetensors.torch import save_file
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    _seed(61)
    encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=_TEXT_HIDDEN,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=32,
            patch_size=4,
            projection_dim=_TEXT_HIDDEN,
        )
    )
    encoder.save_pretrained(str(directory / "image_encoder"), safe_serialization=True)
    unet = _sdxl_unet()
    cross = unet.config.cross_attention_dim
    _seed(62)
    weights = {
        "image_proj.proj.weight": torch.randn(cross * _IP_ADAPTER_TOKENS, _TEXT_HIDDEN) * 0.05,
        "image_proj.proj.bias": torch.zeros(cross * _IP_ADAPTER_TOKENS),
        "image_proj.norm.weight": torch.ones(cross),
        "image_proj.norm.bias": torch.zeros(cross),
    }
    # IP-Adapter numbers every attention processor and adapts the cross-attention
    # ones (attn2), which come second in each transformer block: 1, 3, 5, ...
    number = 1
    for name in unet.attn_processors:
        if name.endswith("attn2.processor"):
            attention = unet.get_submodule(name.removesuffix(".processor"))
            inner = attention.to_k.out_features
            for part in ("to_k_ip", "to_v_ip"):
                weights[f"ip_adapter.{number}.{part}.weight"] = torch.randn(inner, cross) * 0.1
            number += 2
    save_file({k: v.contiguous() for k, v in weights.items()}, str(directory / IP_ADAPTER_WEIGHTS))


_BUILDERS: dict[str, Callable[[Path], None]] = {
    "sd": _build_sd,
    "sdxl": _build_sdxl,
    "sd3": _build_sd3,
    "sd-inpaint": _build_sd_inpaint,
    "sd-x4-upscaler": _build_x4_upscaler,
    "esrgan-x2": lambda d: _build_esrgan(d, scale=2),
    "esrgan-x4": lambda d: _build_esrgan(d, scale=4),
    "svd": tiny_media.build_svd,
    "depth-anything": tiny_media.build_depth_anything,
    "clipseg": lambda d: _tiny_segment().build_clipseg(d),
    "u2net": lambda d: _tiny_segment().build_u2net(d),
    "sdxl-controlnet": _build_sdxl_controlnet,
    "sdxl-ip-adapter": _build_sdxl_ip_adapter,
}
