"""Stable Diffusion engines on diffusers: SD 1.x/2.x, SDXL, SD 3/3.5 and the x4 upscaler.

`DiffusersEngine` serves text-to-image, image-to-image and masking for one
model, loaded with diffusers' own loaders: `from_pretrained` from a Hugging
Face repo id or a local directory in the diffusers layout, `from_single_file`
from one `.safetensors` checkpoint in the original layout (see
`single_file`). The image-to-image pipeline and, unless `spec.inpaint_model`
names separate inpainting weights, the inpainting pipeline are built with
`from_pipe`, sharing the loaded modules. `LatentUpscaleEngine` serves upscale with
`StableDiffusionUpscalePipeline`.

How Stability's parameters map (see also `presets.py` and `schedulers.py`):

- Prompts: each distinct text is encoded once; the positive conditioning is
  the weighted average of the embeddings of prompts with weight > 0
  (normalised by the sum of those weights), the negative conditioning that of
  prompts with weight < 0 (by |weight|). Without negative prompts the
  pipeline's own unconditional embedding is used (the empty prompt, or zeros
  for SDXL with `force_zeros_for_empty_prompt`). SDXL and SD3 pooled
  embeddings are blended the same way; SD3's embeddings join its two CLIP
  encoders and T5, so v2beta's `negative_prompt` is a prompt of weight -1.
- Samplers: see `schedulers.py`; SD3 keeps its flow-matching Euler scheduler.
- image-to-image: diffusers `strength` = 1 - `image_strength`, or
  `step_schedule_start` when given (`GenerationRequest.denoise_strength`).
  `step_schedule_end` e < 1 stops the schedule once a fraction e of the full
  `steps` schedule (counted from pure noise, as diffusers' `denoising_end`)
  has run, and decodes the partially denoised latents — the semantics of
  diffusers' `denoising_end`, but implemented by interrupting the loop so it
  works on every pipeline. If nothing is left to run (strength 0, or an end
  at or before the start) the init image is returned unchanged, pixel for
  pixel, not through a VAE round trip.
- masking: white mask pixels are repainted (at `mask_strength`, 1 unless a
  v2beta edit asks for less); afterwards the
  result is composited onto the init image with the mask as alpha, so every
  pixel the mask protects (mask == 0) equals the init image exactly.
- Seeds: one CPU `torch.Generator` per sample, passed as a list, so a
  sample's starting latents and noise depend only on its own seed, never on
  the batch it ran in (batched and single runs differ only by float
  rounding, at most 1/255 in pixel values here). Same request and seed give
  the same bytes within and across processes at a fixed torch thread count
  and the same settings (easel does not set the thread count; cuDNN's
  deterministic mode is `[engine.fast] deterministic`, off by default).
- `extras` and `clip_guidance_preset` are ignored by these engines.
- The NSFW safety checker is not loaded (easel's safety layer decides);
  progress bars are off; the warning diffusers logs when it truncates a long
  prompt is kept but no longer quotes the prompt (logs carry no prompts).

On CUDA the fast path applies when a model loads (`easel.engines.fastpath`:
half-precision weights with a VAE dtype that does not overflow,
channels_last, fused QKV projections, a compiled UNet warmed for the
configured sizes, weights read straight onto the GPU); on CPU it is off
unless switched on.

Several compatible requests in one `generate` call run as one pipeline call
with their embeddings concatenated (dynamic batching). Each call uses its own
scheduler on a shallow copy of the pipeline, under a per-engine lock, so
concurrent callers never share scheduler state.
"""

from __future__ import annotations

import copy
import inspect
import json
import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from easel.engines.backends._common import (
    CancelSignal,
    check_cancel,
    check_kinds,
    engine_errors,
    free_accelerator_memory,
    logger,
    module_bytes,
    quiet_hf,
    torch_dtype,
)
from easel.engines.backends.single_file import SingleFileSource, config_dir, load_single_file
from easel.engines.base import (
    EngineSpec,
    GeneratedImage,
    GenerationKind,
    GenerationRequest,
    GenerationResult,
    ProgressCallback,
    WeightedPrompt,
)
from easel.engines.checkpoints import is_single_file
from easel.engines.fastpath import (
    FastPathSettings,
    FastPlan,
    apply_fast_path,
    configure_torch,
    device_facts,
    load_kwargs,
    loading_device,
    plan_fast_path,
)
from easel.engines.presets import apply_style_preset
from easel.engines.schedulers import scheduler_for
from easel.errors import InvalidRequest

__all__ = ["DiffusersEngine", "LatentUpscaleEngine"]


# --------------------------------------------------------------------------- loading


def _dtype_kwargs(dtype: Any) -> dict[str, Any]:
    # diffusers renamed `torch_dtype` to `dtype` (0.36+) and warns on the old name.
    try:
        from diffusers.utils.deprecation_utils import _resolve_dtype  # noqa: F401
    except ImportError:
        return {"torch_dtype": dtype}
    return {"dtype": dtype}


def _local_source(source: str) -> str:
    """`source` as a local directory: a hub repo id is downloaded (or found in the cache).

    Done once up front with `DiffusionPipeline.download`, skipping the safety
    checker's weights, so the loaders below only ever read a directory.
    """
    if Path(source).is_dir():
        return source
    import diffusers

    return str(diffusers.DiffusionPipeline.download(source, safety_checker=None))


def _pipeline_kwargs(source: str) -> dict[str, Any]:
    """Keyword arguments that switch off the safety checker and watermarker, if any.

    `source` is a local pipeline directory.
    """
    import diffusers

    index = json.loads((Path(source) / "model_index.json").read_text())
    cls = getattr(diffusers, str(index.get("_class_name", "")), None)
    params = inspect.signature(cls.__init__).parameters if cls is not None else {}
    kwargs: dict[str, Any] = {}
    if "safety_checker" in params:
        kwargs["safety_checker"] = None
    if "requires_safety_checker" in params:
        kwargs["requires_safety_checker"] = False
    if "add_watermarker" in params:
        kwargs["add_watermarker"] = False
    return kwargs


class _RedactTruncatedPrompts(logging.Filter):
    """diffusers logs the part of a prompt CLIP truncates; easel's logs carry no prompts."""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("The following part of your input was truncated"):
            record.msg, record.args = "A prompt was truncated to the text encoder's length.", ()
        return True


_REDACT = _RedactTruncatedPrompts()


def _prepare(pipe: Any, device: str) -> Any:
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    module_logger = logging.getLogger(type(pipe).__module__)
    if _REDACT not in module_logger.filters:
        module_logger.addFilter(_REDACT)
    return pipe


def checkpoint_source(
    spec: EngineSpec, path: str, *, inpaint: bool = False
) -> str | SingleFileSource:
    """`path` (the engine's model or inpaint_model) as `_load_pipeline` takes it.

    A single-file checkpoint carries the engine's setting for its configuration.
    """
    if not is_single_file(path):
        return path
    if inpaint:
        return SingleFileSource(spec.id, path, spec.inpaint_config, "inpaint_config")
    return SingleFileSource(spec.id, path, spec.config, "config")


def _load_pipeline(
    auto_cls: Any,
    source: str | SingleFileSource,
    device: str,
    dtype: Any,
    plan: FastPlan | None = None,
) -> Any:
    """Load `source` for `auto_cls`: a repo id or diffusers-layout directory with
    `from_pretrained` (straight onto the device under the plan's fast loading),
    a single-file checkpoint (see `checkpoint_source`) with `from_single_file`."""
    quiet_hf()
    if isinstance(source, SingleFileSource):
        directory = config_dir(source)
        kwargs = {**_pipeline_kwargs(str(directory)), **_dtype_kwargs(dtype)}
        return _prepare(load_single_file(auto_cls, source, directory, **kwargs), device)
    source = _local_source(source)
    kwargs = {**_pipeline_kwargs(source), **_dtype_kwargs(dtype)}
    if plan is None:
        return _prepare(auto_cls.from_pretrained(source, **kwargs), device)
    with loading_device(plan, device):
        pipe = auto_cls.from_pretrained(source, **kwargs, **load_kwargs(plan, device))
    return _prepare(pipe, device)


# --------------------------------------------------------------------------- conditioning


@dataclass
class _Conditioning:
    prompt_embeds: Any
    negative_prompt_embeds: Any
    pooled: Any = None  # SDXL only
    negative_pooled: Any = None

    def as_kwargs(self) -> dict[str, Any]:
        kwargs = {
            "prompt_embeds": self.prompt_embeds,
            "negative_prompt_embeds": self.negative_prompt_embeds,
        }
        if self.pooled is not None:
            kwargs["pooled_prompt_embeds"] = self.pooled
            kwargs["negative_pooled_prompt_embeds"] = self.negative_pooled
        return kwargs


def _is_xl(pipe: Any) -> bool:
    return "text_encoder_2" in pipe.components


class _Encoder:
    """Encodes prompt texts once per call and blends them by weight."""

    def __init__(self, pipe):
        self.pipe = pipe
        self.xl = _is_xl(pipe)  # SDXL or SD3: two CLIP encoders and pooled embeddings
        self.sd3 = "text_encoder_3" in pipe.components
        self.device = pipe._execution_device
        self._cache: dict[str, tuple[Any, Any]] = {}

    def encode(self, text: str) -> tuple[Any, Any]:
        if text not in self._cache:
            if self.xl:
                # SD3 asks for its second and third encoders' prompts; None reuses `prompt`.
                more = {"prompt_2": None, "prompt_3": None} if self.sd3 else {}
                embeds, _, pooled, _ = self.pipe.encode_prompt(
                    prompt=text,
                    **more,
                    device=self.device,
                    num_images_per_prompt=1,
                    do_classifier_free_guidance=False,
                )
            else:
                embeds, _ = self.pipe.encode_prompt(text, self.device, 1, False)
                pooled = None
            self._cache[text] = (embeds, pooled)
        return self._cache[text]

    def blend(self, weighted: list[tuple[str, float]]) -> tuple[Any, Any]:
        total = sum(w for _, w in weighted)
        embeds = pooled = None
        for text, weight in weighted:
            e, p = self.encode(text)
            embeds = e * (weight / total) if embeds is None else embeds + e * (weight / total)
            if p is not None:
                pooled = p * (weight / total) if pooled is None else pooled + p * (weight / total)
        return embeds, pooled

    def unconditional(self, like: tuple[Any, Any]) -> tuple[Any, Any]:
        import torch

        if self.xl and getattr(self.pipe.config, "force_zeros_for_empty_prompt", False):
            embeds, pooled = like
            return torch.zeros_like(embeds), torch.zeros_like(pooled)
        return self.encode("")

    def request(self, request: GenerationRequest) -> tuple[Any, Any, Any, Any]:
        prompts = apply_style_preset(request.prompts, request.style_preset)
        positive = [(p.text, p.weight) for p in prompts if p.weight > 0]
        negative = [(p.text, -p.weight) for p in prompts if p.weight < 0]
        pos = self.blend(positive) if positive else self.encode("")
        neg = self.blend(negative) if negative else self.unconditional(pos)
        return pos[0], neg[0], pos[1], neg[1]

    def batch(self, requests: Sequence[GenerationRequest]) -> _Conditioning:
        import torch

        parts: list[list[Any]] = [[], [], [], []]
        for request in requests:
            for i, tensor in enumerate(self.request(request)):
                if tensor is not None:
                    parts[i].append(tensor.expand(request.samples, *tensor.shape[1:]))
        embeds, neg, pooled, neg_pooled = (torch.cat(p) if p else None for p in parts)
        return _Conditioning(embeds, neg, pooled, neg_pooled)


def _generators(requests: Sequence[GenerationRequest]) -> list[Any]:
    import torch

    return [
        torch.Generator(device="cpu").manual_seed(int(seed))
        for request in requests
        for seed in request.seeds
    ]


def _split(
    requests: Sequence[GenerationRequest], images: list[Image.Image]
) -> list[GenerationResult]:
    results, i = [], 0
    for request in requests:
        chunk = images[i : i + request.samples]
        i += request.samples
        results.append(
            GenerationResult(
                images=[
                    GeneratedImage(image=img.convert("RGB"), seed=int(seed))
                    for img, seed in zip(chunk, request.seeds, strict=True)
                ]
            )
        )
    return results


def _groups(requests: Sequence[GenerationRequest]) -> list[list[int]]:
    groups: dict[tuple[object, ...], list[int]] = {}
    for i, request in enumerate(requests):
        groups.setdefault(request.batch_key(), []).append(i)
    return list(groups.values())


def output_size(pipe: Any, width: int, height: int) -> dict[str, int]:
    """`width`/`height` for an img2img call, where the pipeline takes them.

    SD3's img2img resizes its input to `height` x `width`, which default to
    the model's 1024 px; SD/SDXL img2img keep the input's size and take no size.
    """
    params = inspect.signature(type(pipe).__call__).parameters
    return {"width": width, "height": height} if "width" in params else {}


def skipped_steps(pipe: Any, steps: int, strength: float) -> int:
    """How many of `steps` an img2img call with `strength` skips, as the pipeline counts them.

    SD/SDXL img2img round the steps that run down; SD3's rounds the steps it
    skips down (so it runs one more at strength 0.65 of 30 steps).
    """
    if "transformer" in pipe.components:
        return int(max(steps - min(steps * strength, steps), 0))
    return steps - min(int(steps * strength), steps)


def _init_image(request: GenerationRequest) -> Image.Image:
    if request.init_image is None:
        raise InvalidRequest(f"{request.kind} needs an init_image.", param="init_image")
    image = request.init_image.convert("RGB")
    size = (request.width, request.height)
    return image if image.size == size else image.resize(size, Image.Resampling.LANCZOS)


def _mask(request: GenerationRequest) -> Image.Image:
    if request.mask is None:
        raise InvalidRequest("masking needs a mask image.", param="mask_image")
    mask = request.mask.convert("L")
    size = (request.width, request.height)
    return mask if mask.size == size else mask.resize(size, Image.Resampling.NEAREST)


class _Progress:
    """Turns per-group step callbacks into one monotonic (step, total) stream."""

    def __init__(
        self,
        callback: ProgressCallback | None,
        cancel: threading.Event | None,
        engine_id: str,
        total: int,
    ):
        self.callback, self.cancel, self.engine_id = callback, cancel, engine_id
        self.total, self.done = total, 0

    def step(self) -> None:
        self.done += 1
        if self.callback is not None:
            self.callback(self.done, self.total)
        if self.cancel is not None and self.cancel.is_set():
            raise CancelSignal

    def skip(self, n: int) -> None:
        self.done += n


# --------------------------------------------------------------------------- text/image engine


@dataclass
class _Plan:
    kind: GenerationKind
    indices: list[int]
    start: int  # first timestep entry that runs (img2img skips the start of the schedule)
    run: int  # timestep entries that run (callbacks); 0 means "return the init image"


class DiffusersEngine:
    """text-to-image, image-to-image and masking on an SD 1.x/2.x or SDXL pipeline.

    Args:
        spec: the engine's config entry (`spec.kind` "generate" or "inpaint"; "edit"
            engines are `EditEngine`s, which load their inpainting pipeline here).
        device: torch device string ("cuda", "cuda:1", "mps", "cpu").
        dtype: "float16", "bfloat16" or "float32".
        model: weights (repo id, directory or .safetensors file); defaults to `spec.model`.
        inpaint_model: separate inpainting weights for masking on a generate
            engine; defaults to `spec.inpaint_model`.
        fast: the fast-path settings (``[engine.fast]``); default: every switch
            "auto" (on on CUDA, off elsewhere).
    """

    def __init__(
        self,
        spec: EngineSpec,
        *,
        device: str = "cpu",
        dtype: str = "float32",
        model: str | None = None,
        inpaint_model: str | None = None,
        fast: FastPathSettings | None = None,
    ):
        self.spec = spec
        self.device = device
        self.dtype = dtype
        self.fast = fast if fast is not None else FastPathSettings()
        self._model = model if model is not None else spec.model
        self._inpaint_model = inpaint_model if inpaint_model is not None else spec.inpaint_model
        self._load_lock = threading.RLock()
        self._run_lock = threading.Lock()
        self._pipes: dict[str, Any] = {}
        self._fast_plan: FastPlan | None = None

    @property
    def plan(self) -> FastPlan:
        """The fast-path switches that apply on this engine's device (resolved once)."""
        if self._fast_plan is None:
            self._fast_plan = plan_fast_path(
                self.fast, dtype=self.dtype, device=device_facts(self.device)
            )
        return self._fast_plan

    # -- sources (the sandbox overrides these to build tiny models first)

    def model_source(self) -> str:
        if not self._model:
            raise InvalidRequest(f"Engine {self.spec.id} has no model configured.")
        return self._model

    def inpaint_source(self) -> str | None:
        return self._inpaint_model

    # -- lifecycle

    @property
    def loaded(self) -> bool:
        return bool(self._pipes)

    def load(self) -> None:
        """Load the weights (idempotent, thread-safe)."""
        import diffusers

        with self._load_lock:
            if self._pipes:
                return
            with engine_errors(self.spec.id, "loading its model"):
                plan = self.plan
                configure_torch(plan)
                source = checkpoint_source(self.spec, self.model_source())
                if self.spec.kind in ("inpaint", "edit"):
                    base = self._load(diffusers.AutoPipelineForInpainting, source)
                    self._pipes = {"masking": base}
                else:
                    base = self._load(diffusers.AutoPipelineForText2Image, source)
                    img2img = diffusers.AutoPipelineForImage2Image.from_pipe(base)
                    self._pipes = {
                        "text-to-image": base,
                        "image-to-image": _prepare(img2img, self.device),
                    }
                    try:
                        self._warm_up(base, plan)
                    except BaseException:
                        self._pipes = {}  # a later call loads (and warms) again
                        raise

    def _load(self, auto_cls: Any, source: str | SingleFileSource) -> Any:
        """One pipeline from `source`, with the fast path applied to its modules."""
        plan = self.plan
        pipe = _load_pipeline(auto_cls, source, self.device, torch_dtype(self.dtype), plan)
        apply_fast_path(pipe, plan, self.dtype)
        return pipe

    def _warm_up(self, pipe: Any, plan: FastPlan) -> None:
        """Compile the UNet for the plan's (batch, size) buckets now, not on a user's request.

        Three steps per bucket: CUDA graphs (reduce-overhead) run a bucket once
        before recording it on the second call and replaying from the third.
        """
        if "unet" not in pipe.components:
            return  # SD3: a transformer, which the fast path does not compile
        factor = 2 ** (len(pipe.vae.config.block_out_channels) - 1)
        side = int(pipe.unet.config.sample_size) * factor
        buckets = plan.warm_buckets((side, side))
        if buckets:
            logger.info("engine %s: compiling the UNet for %s", self.spec.id, buckets)
        for batch, width, height in buckets:
            request = GenerationRequest(
                kind="text-to-image",
                prompts=[WeightedPrompt("warm-up")],
                width=width,
                height=height,
                seeds=list(range(batch)),
                steps=3,
            )
            group_plan = self._plan([request], [0])
            with self._run_lock:
                self._run(group_plan, [request], _Progress(None, None, self.spec.id, 0))

    def unload(self) -> None:
        with self._load_lock:
            self._pipes = {}
            free_accelerator_memory()

    def memory_bytes(self) -> int:
        pipes = list(self._pipes.values())
        return module_bytes(m for p in pipes for m in p.components.values())

    def _pipeline(self, kind: GenerationKind) -> Any:
        import diffusers

        self.load()
        with self._load_lock:
            if kind not in self._pipes and kind == "masking":
                with engine_errors(self.spec.id, "loading its inpainting model"):
                    source = self.inpaint_source()
                    if source:
                        pipe = self._load(
                            diffusers.AutoPipelineForInpainting,
                            checkpoint_source(self.spec, source, inpaint=True),
                        )
                    else:
                        base = self._pipes["text-to-image"]
                        pipe = _prepare(
                            diffusers.AutoPipelineForInpainting.from_pipe(base), self.device
                        )
                    self._pipes["masking"] = pipe
            return self._pipes[kind]

    # -- generation

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> list[GenerationResult]:
        kinds: tuple[GenerationKind, ...] = (
            ("masking",)
            if self.spec.kind in ("inpaint", "edit")
            else ("text-to-image", "image-to-image", "masking")
        )
        check_kinds(self.spec.id, requests, kinds)
        check_cancel(self.spec.id, cancel)
        if not requests:
            return []
        for kind in {r.kind for r in requests}:
            self._pipeline(kind)
        results: list[GenerationResult | None] = [None] * len(requests)
        with self._run_lock, engine_errors(self.spec.id, "generating"):
            plans = [self._plan(requests, group) for group in _groups(requests)]
            tracker = _Progress(progress, cancel, self.spec.id, sum(p.run for p in plans))
            for plan in plans:
                check_cancel(self.spec.id, cancel)
                group = [requests[i] for i in plan.indices]
                for i, result in zip(plan.indices, self._run(plan, group, tracker), strict=True):
                    results[i] = result
        return [r for r in results if r is not None]

    def _plan(self, requests: Sequence[GenerationRequest], indices: list[int]) -> _Plan:
        first = requests[indices[0]]
        pipe = self._pipes[first.kind]
        probe = scheduler_for(first.sampler, pipe.scheduler)
        probe.set_timesteps(first.steps)
        entries, order = len(probe.timesteps), int(getattr(probe, "order", 1))
        start = skipped_steps(pipe, first.steps, first.denoise_strength) * order
        end = entries
        e = first.step_schedule_end
        if e is not None and e < 1:
            end = min(entries, round(max(e, 0.0) * first.steps) * order)
        run = max(0, end - start)
        if run == 0 and first.kind == "text-to-image":
            run = 1  # there is no init image to return; run at least one step
        return _Plan(first.kind, indices, start=start, run=run)

    def _run(
        self, plan: _Plan, group: list[GenerationRequest], tracker: _Progress
    ) -> list[GenerationResult]:
        first = group[0]
        if plan.run == 0:
            # Nothing to denoise: the init image comes back exactly.
            return _split(group, [_init_image(r) for r in group for _ in r.seeds])

        pipe = copy.copy(self._pipes[plan.kind])
        pipe.scheduler = scheduler_for(first.sampler, pipe.scheduler)
        conditioning = _Encoder(pipe).batch(group)
        ran = 0

        def on_step_end(p, i, t, callback_kwargs):
            nonlocal ran
            ran += 1
            if ran >= plan.run:
                p._interrupt = True  # step_schedule_end: stop here, decode what we have
            try:
                tracker.step()
            except CancelSignal:
                # Stop the loop even if a caller swallows the exception; the
                # exception itself aborts the call before the VAE decode.
                p._interrupt = True
                raise
            return callback_kwargs

        kwargs: dict[str, Any] = {
            **conditioning.as_kwargs(),
            "num_inference_steps": first.steps,
            "guidance_scale": first.cfg_scale,
            "generator": _generators(group),
            "callback_on_step_end": on_step_end,
            "output_type": "pil",
        }
        if plan.kind == "text-to-image":
            kwargs.update(width=first.width, height=first.height)
        elif plan.kind == "image-to-image":
            kwargs.update(
                image=[_init_image(r) for r in group for _ in r.seeds],
                strength=first.denoise_strength,
                **output_size(pipe, first.width, first.height),
            )
        else:
            kwargs.update(
                image=[_init_image(r) for r in group for _ in r.seeds],
                mask_image=[_mask(r) for r in group for _ in r.seeds],
                width=first.width,
                height=first.height,
                strength=first.denoise_strength,
            )
        images = list(pipe(**kwargs).images)
        tracker.skip(plan.run - ran)  # keep the totals right if the pipeline ran fewer
        if plan.kind == "masking":
            inits = [(_init_image(r), _mask(r)) for r in group for _ in r.seeds]
            images = [
                Image.composite(out.convert("RGB"), init, mask)
                for out, (init, mask) in zip(images, inits, strict=True)
            ]
        return _split(group, images)


# --------------------------------------------------------------------------- x4 upscaler


class LatentUpscaleEngine:
    """Upscale with diffusers' `StableDiffusionUpscalePipeline` (x4), then resize exactly.

    The input is first resized (Lanczos) so that x4 of it just covers the
    requested size (rounded up to what the UNet accepts); the x4 output is
    then resized (Lanczos) to exactly `width` x `height`. Prompts are optional
    and weighted like generation prompts; `noise_level` is 20 (diffusers'
    default).
    """

    def __init__(
        self,
        spec: EngineSpec,
        *,
        device: str = "cpu",
        dtype: str = "float32",
        model: str | None = None,
    ):
        self.spec = spec
        self.device = device
        self.dtype = dtype
        self._model = model if model is not None else spec.model
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._pipe: Any = None

    def model_source(self) -> str:
        if not self._model:
            raise InvalidRequest(f"Engine {self.spec.id} has no model configured.")
        return self._model

    @property
    def loaded(self) -> bool:
        return self._pipe is not None

    def load(self) -> None:
        import diffusers

        with self._load_lock:
            if self._pipe is None:
                with engine_errors(self.spec.id, "loading its model"):
                    self._pipe = _load_pipeline(
                        diffusers.StableDiffusionUpscalePipeline,
                        checkpoint_source(self.spec, self.model_source()),
                        self.device,
                        torch_dtype(self.dtype),
                    )

    def unload(self) -> None:
        with self._load_lock:
            self._pipe = None
            free_accelerator_memory()

    def memory_bytes(self) -> int:
        return 0 if self._pipe is None else module_bytes(self._pipe.components.values())

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> list[GenerationResult]:
        check_kinds(self.spec.id, requests, ("upscale",))
        check_cancel(self.spec.id, cancel)
        if not requests:
            return []
        self.load()
        results: list[GenerationResult | None] = [None] * len(requests)
        with self._run_lock, engine_errors(self.spec.id, "upscaling"):
            groups = _groups(requests)
            total = sum(requests[g[0]].steps for g in groups)
            tracker = _Progress(progress, cancel, self.spec.id, total)
            for indices in groups:
                check_cancel(self.spec.id, cancel)
                group = [requests[i] for i in indices]
                for i, result in zip(indices, self._run(group, tracker), strict=True):
                    results[i] = result
        return [r for r in results if r is not None]

    def _low_res_size(self, width: int, height: int) -> tuple[int, int]:
        pipe = self._pipe
        factor = 2 ** (len(pipe.vae.config.block_out_channels) - 1)  # 4 for the x4 upscaler
        multiple = 2 ** (len(pipe.unet.config.block_out_channels) - 1)

        def side(n: int) -> int:
            return max(multiple, math.ceil(n / factor / multiple) * multiple)

        return side(width), side(height)

    def _run(self, group: list[GenerationRequest], tracker: _Progress) -> list[GenerationResult]:
        first = group[0]
        pipe = copy.copy(self._pipe)
        pipe.scheduler = (
            scheduler_for(first.sampler, pipe.scheduler)
            if first.sampler is not None
            else pipe.scheduler.__class__.from_config(pipe.scheduler.config)
        )
        conditioning = _Encoder(pipe).batch(group)
        low_res = self._low_res_size(first.width, first.height)
        images = []
        for request in group:
            if request.init_image is None:
                raise InvalidRequest("upscale needs an init_image.", param="image")
            small = request.init_image.convert("RGB").resize(low_res, Image.Resampling.LANCZOS)
            images += [small] * request.samples
        done_before = tracker.done

        def on_step(step, t, latents):
            tracker.step()

        out = pipe(
            **conditioning.as_kwargs(),
            image=images,
            num_inference_steps=first.steps,
            guidance_scale=first.cfg_scale,
            noise_level=20,
            generator=_generators(group),
            callback=on_step,
            callback_steps=1,
            output_type="pil",
        ).images
        tracker.skip(first.steps - (tracker.done - done_before))
        size = (first.width, first.height)
        resized = [img.convert("RGB").resize(size, Image.Resampling.LANCZOS) for img in out]
        return _split(group, resized)
