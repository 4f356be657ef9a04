"""Every API operation, declared once for `Client` and `AsyncClient`.

Each method here builds its request (`_requests`) and hands it to one of
four verbs that the clients implement: `_generate` (v1 artifacts), `_media`
(a v2beta file), `_submit` (a v2beta asynchronous job) and `_job` (a handle
for a known id). The sync client's verbs return values, the async client's
return awaitables, so ``client.generate_core(...)`` and
``await aclient.generate_core(...)`` share one signature (httpx's layout:
thin sync/async verbs over shared builders).

Parameter limits and descriptions ride on the signatures (`Param`); the CLI
and the MCP server read them from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Generic, Literal, TypeVar

from . import _requests as build
from ._params import Param
from ._progress import ProgressCallback
from ._requests import ImageInput, PromptsInput, RequestSpec

GenerationT = TypeVar("GenerationT")
MediaT = TypeVar("MediaT")
JobT = TypeVar("JobT")

AspectRatio = Literal["21:9", "16:9", "3:2", "5:4", "1:1", "4:5", "2:3", "9:16", "9:21"]
OutputFormat = Literal["png", "jpeg", "webp"]
StylePreset = Literal[
    "enhance", "anime", "photographic", "digital-art", "comic-book", "fantasy-art", "line-art",
    "analog-film", "neon-punk", "isometric", "low-poly", "origami", "modeling-compound",
    "cinematic", "3d-model", "pixel-art", "tile-texture",
]  # fmt: skip
SD3Model = Literal["sd3.5-large", "sd3.5-large-turbo", "sd3.5-medium", "sd3.5-flash"]

PROMPT = Param("What you wish to see in the output image.", max_length=10000)
Prompt = Annotated[str, PROMPT]
OptionalPrompt = Annotated[str | None, PROMPT]
NegativePrompt = Annotated[
    str | None, Param("What you do not wish to see in the output image.", max_length=10000)
]
Seed = Annotated[
    int | None, Param("Randomness seed; 0 or unset picks a random one.", ge=0, le=4294967294)
]
Format = Annotated[
    OutputFormat | None,
    Param("File format of the result (default png).", choices=("png", "jpeg", "webp")),
]
Aspect = Annotated[
    AspectRatio | None,
    Param("Aspect ratio of the output (default 1:1).", choices=AspectRatio.__args__),
]
Style = Annotated[
    StylePreset | None, Param("Guides the image toward a style.", choices=StylePreset.__args__)
]
Image = Annotated[
    ImageInput,
    Param("Input image (jpeg, png or webp): every side at least 64 px, 4096-9437184 pixels."),
]
Mask = Annotated[
    ImageInput | None,
    Param("Grayscale mask: black keeps, white edits; defaults to the image's alpha channel."),
]
GrowMask = Annotated[
    int | None, Param("Grow the mask's edges by this many pixels, blurred (default 5).", 0, 20)
]
Strength = Annotated[
    float | None, Param("How much the input image is changed: 0 copies it, 1 ignores it.", 0, 1)
]
Texture = Annotated[
    Literal["512", "1024", "2048"] | None,
    Param("Texture size in pixels (default 1024).", choices=("512", "1024", "2048")),
]
Remesh = Annotated[
    Literal["none", "triangle", "quad"] | None,
    Param("Remeshing algorithm (default none).", choices=("none", "triangle", "quad")),
]

# Idempotency-Key and easel's progress stream, on every generation.
IdempotencyKey = str | None


def _fields(values: Mapping[str, Any], *images: str) -> dict[str, Any]:
    """The form fields of a method's ``locals()``: all arguments but the images
    and the transport options."""
    skip = {"self", "idempotency_key", "on_progress", *images}
    return {key: value for key, value in values.items() if key not in skip}


class Operations(Generic[GenerationT, MediaT, JobT]):
    """The typed methods of both clients; not used directly."""

    def _generate(
        self, spec: RequestSpec, idempotency_key: str | None, on_progress: ProgressCallback | None
    ) -> GenerationT:
        raise NotImplementedError

    def _media(
        self, spec: RequestSpec, idempotency_key: str | None, on_progress: ProgressCallback | None
    ) -> MediaT:
        raise NotImplementedError

    def _submit(self, spec: RequestSpec, idempotency_key: str | None) -> JobT:
        raise NotImplementedError

    def _job(self, generation_id: str) -> JobT:
        raise NotImplementedError

    # -- v1 -------------------------------------------------------------------

    def text_to_image(
        self,
        engine_id: str,
        prompt: str | None = None,
        *,
        text_prompts: PromptsInput | None = None,
        negative_prompt: str | None = None,
        width: int | None = None,
        height: int | None = None,
        cfg_scale: float | None = None,
        steps: int | None = None,
        samples: int | None = None,
        seed: int | None = None,
        sampler: str | None = None,
        style_preset: str | None = None,
        clip_guidance_preset: str | None = None,
        extras: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> GenerationT:
        """Generate images from text (``POST /v1/generation/{engine_id}/text-to-image``).

        Pass `prompt` or `text_prompts`; `negative_prompt` is sent as a prompt
        of weight -1. Unset options are left to the server's defaults.
        `idempotency_key` (default: a fresh uuid4) is repeated on retries;
        `on_progress` gets easel's progress reports.
        """
        prompts = build.build_prompts(prompt, text_prompts, negative_prompt)
        fields = _fields(locals(), "engine_id", "prompt", "text_prompts", "negative_prompt")
        fields.pop("prompts")
        spec = build.text_to_image(engine_id, prompts, fields)
        return self._generate(spec, idempotency_key, on_progress)

    def image_to_image(
        self,
        engine_id: str,
        init_image: ImageInput,
        prompt: str | None = None,
        *,
        text_prompts: PromptsInput | None = None,
        negative_prompt: str | None = None,
        image_strength: float | None = None,
        step_schedule_start: float | None = None,
        step_schedule_end: float | None = None,
        cfg_scale: float | None = None,
        steps: int | None = None,
        samples: int | None = None,
        seed: int | None = None,
        sampler: str | None = None,
        style_preset: str | None = None,
        clip_guidance_preset: str | None = None,
        extras: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> GenerationT:
        """Transform `init_image` (a path, bytes or binary file) guided by a prompt.

        Pass `image_strength` (``IMAGE_STRENGTH`` mode) or
        `step_schedule_start`/`step_schedule_end` (``STEP_SCHEDULE`` mode).
        """
        prompts = build.build_prompts(prompt, text_prompts, negative_prompt)
        fields = _fields(
            locals(), "engine_id", "init_image", "prompt", "text_prompts", "negative_prompt"
        )
        fields.pop("prompts")
        spec = build.image_to_image(engine_id, init_image, prompts, fields)
        return self._generate(spec, idempotency_key, on_progress)

    def masking(
        self,
        engine_id: str,
        init_image: ImageInput,
        mask_image: ImageInput | None = None,
        mask_source: str = "MASK_IMAGE_WHITE",
        *,
        prompt: str | None = None,
        text_prompts: PromptsInput | None = None,
        negative_prompt: str | None = None,
        cfg_scale: float | None = None,
        steps: int | None = None,
        samples: int | None = None,
        seed: int | None = None,
        sampler: str | None = None,
        style_preset: str | None = None,
        clip_guidance_preset: str | None = None,
        extras: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> GenerationT:
        """Inpaint the masked part of `init_image`.

        `mask_source`: ``MASK_IMAGE_WHITE`` (white pixels of `mask_image` are
        replaced), ``MASK_IMAGE_BLACK``, or ``INIT_IMAGE_ALPHA`` (transparent
        pixels of `init_image`; no `mask_image`).
        """
        prompts = build.build_prompts(prompt, text_prompts, negative_prompt)
        fields = _fields(
            locals(),
            "engine_id",
            "init_image",
            "mask_image",
            "mask_source",
            "prompt",
            "text_prompts",
            "negative_prompt",
        )
        fields.pop("prompts")
        spec = build.masking(engine_id, init_image, mask_image, mask_source, prompts, fields)
        return self._generate(spec, idempotency_key, on_progress)

    def upscale(
        self,
        engine_id: str,
        image: ImageInput,
        *,
        width: int | None = None,
        height: int | None = None,
        prompt: str | None = None,
        text_prompts: PromptsInput | None = None,
        negative_prompt: str | None = None,
        seed: int | None = None,
        steps: int | None = None,
        cfg_scale: float | None = None,
        idempotency_key: str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> GenerationT:
        """Upscale `image` to `width` or `height` (not both; default 2x for ESRGAN).

        Prompts, `seed`, `steps` and `cfg_scale` apply to the latent upscaler
        (``stable-diffusion-x4-latent-upscaler``) only.
        """
        prompts = build.build_prompts(prompt, text_prompts, negative_prompt, required=False)
        fields = _fields(
            locals(), "engine_id", "image", "prompt", "text_prompts", "negative_prompt"
        )
        fields.pop("prompts")
        spec = build.upscale(engine_id, image, prompts, fields)
        return self._generate(spec, idempotency_key, on_progress)

    # -- v2beta: generate -----------------------------------------------------

    def generate_ultra(
        self,
        prompt: Prompt,
        *,
        negative_prompt: NegativePrompt = None,
        aspect_ratio: Aspect = None,
        image: Annotated[
            ImageInput | None, Param("Optional starting image; needs strength.")
        ] = None,
        strength: Strength = None,
        style_preset: Style = None,
        seed: Seed = None,
        output_format: Format = None,
        idempotency_key: IdempotencyKey = None,
        on_progress: ProgressCallback | None = None,
    ) -> MediaT:
        """Stable Image Ultra: the highest quality text-to-image (1 MP, 8 credits)."""
        spec = _image_op("generate/ultra", _fields(locals(), "image"), image=image)
        return self._media(spec, idempotency_key, on_progress)

    def generate_core(
        self,
        prompt: Prompt,
        *,
        negative_prompt: NegativePrompt = None,
        aspect_ratio: Aspect = None,
        style_preset: Style = None,
        seed: Seed = None,
        output_format: Format = None,
        idempotency_key: IdempotencyKey = None,
        on_progress: ProgressCallback | None = None,
    ) -> MediaT:
        """Stable Image Core: fast, affordable text-to-image (3 credits)."""
        spec = _image_op("generate/core", _fields(locals()))
        return self._media(spec, idempotency_key, on_progress)

    def generate_sd3(
        self,
        prompt: Prompt,
        *,
        model: Annotated[
            SD3Model | None,
            Param("Stable Diffusion 3.5 model (default sd3.5-large).", choices=SD3Model.__args__),
        ] = None,
        negative_prompt: NegativePrompt = None,
        aspect_ratio: Aspect = None,
        image: Annotated[
            ImageInput | None, Param("Starting image (image-to-image; needs strength).")
        ] = None,
        strength: Strength = None,
        cfg_scale: Annotated[
            float | None,
            Param("How strictly to follow the prompt (default 4; 1 for turbo).", 1, 10),
        ] = None,
        style_preset: Style = None,
        seed: Seed = None,
        output_format: Format = None,
        idempotency_key: IdempotencyKey = None,
        on_progress: ProgressCallback | None = None,
    ) -> MediaT:
        """Stable Diffusion 3.5: text-to-image, or image-to-image when `image` is given."""
        fields = _fields(locals(), "image")
        fields["mode"] = "image-to-image" if image is not None else None
        spec = _image_op("generate/sd3", fields, image=image)
        return self._media(spec, idempotency_key, on_progress)

    # -- v2beta: upscale ------------------------------------------------------

    def upscale_fast(
        self,
        image: Annotated[
            ImageInput, Param("Image to upscale 4x: each side 32-1536 px, 1024-1048576 pixels.")
        ],
        *,
        output_format: Format = None,
        idempotency_key: IdempotencyKey = None,
        on_progress: ProgressCallback | None = None,
    ) -> MediaT:
        """Fast 4x upscale with no prompt (2 credits)."""
        spec = _image_op("upscale/fast", _fields(locals(), "image"), image=image)
        return self._media(spec, idempotency_key, on_progress)

    def upscale_conservative(
        self,
        image: Annotated[ImageInput, Param("Image to upscale to about 4 MP; aspect 1:2.5-2.5:1.")],
        prompt: Prompt,
        *,
        negative_prompt: NegativePrompt = None,
        creativity: Annotated[
            float | None, Param("How much new detail to invent (default 0.35).", 0.2, 0.5)
        ] = None,
        seed: Seed = None,
        output_format: Format = None,
        idempotency_key: IdempotencyKey = None,
        on_progress: ProgressCallback | None = None,
    ) -> MediaT:
        """Upscale to about 4 MP keeping the image as it is (40 credits)."""
        spec = _image_op("upscale/conservative", _fields(locals(), "image"), image=image)
        return self._media(spec, idempotency_key, on_progress)

    def upscale_creative(
        self,
        image: Annotated[
            ImageInput, Param("Small image to upscale: at most 1 MP (4096-1048576 pixels).")
        ],
        prompt: Prompt,
        *,
        negative_prompt: NegativePrompt = None,
        creativity: Annotated[
            float | None, Param("How much new detail to invent (default 0.3).", 0.1, 0.5)
        ] = None,
        style_preset: Style = None,
        seed: Seed = None,
        output_format: Format = None,
        idempotency_key: IdempotencyKey = None,
    ) -> JobT:
        """Asynchronous: upscale a small image up to 4K, reimagining detail (60 credits)."""
        spec = _image_op("upscale/creative", _fields(locals(), "image"), image=image, job=True)
        return self._submit(spec, idempotency_key)

    # -- v2beta: edit ---------------------------------------------------------

    def edit_erase(
        self,
        image: Image,
        *,
        mask: Mask = None,
        grow_mask: GrowMask = None,
        seed: Seed = None,
        output_format: Format = None,
        idempotency_key: IdempotencyKey = None,
        on_progress: ProgressCallback | None = None,
    ) -> MediaT:
        """Remove what the mask covers, filling in the background (5 credits)."""
        spec = _image_op("edit/erase", _fields(locals(), "image", "mask"), image=image, mask=mask)
        return self._media(spec, idempotency_key, on_progress)

    def edit_inpaint(
        self,
        image: Image,
        prompt: Prompt,
        *,
        mask: Mask = None,
        negative_prompt: NegativePrompt = None,
        grow_mask: Annotated[
            int | None, Param("Grow the mask's edges by this many pixels (default 5).", 0, 100)
        ] = None,
        style_preset: Style = None,
        seed: Seed = None,
        output_format: Format = None,
        idempotency_key: IdempotencyKey = None,
        on_progress: ProgressCallback | None = None,
    ) -> MediaT:
        """Repaint what the mask covers following the prompt (5 credits)."""
        spec = _image_op("edit/inpaint", _fields(locals(), "image", "mask"), image=image, mask=mask)
        return self._media(spec, idempotency_key, on_progress)

    def edit_outpaint(
        self,
        image: Image,
        *,
        left: Annotated[int | None, Param("Pixels to add on the left.", 0, 2000)] = None,
        right: Annotated[int | None, Param("Pixels to add on the right.", 0, 2000)] = None,
        up: Annotated[int | None, Param("Pixels to add at the top.", 0, 2000)] = None,
        down: Annotated[int | None, Param("Pixels to add at the bottom.", 0, 2000)] = None,
        prompt: OptionalPrompt = None,
        creativity: Annotated[
            float | None, Param("How much new content to invent (default 0.5).", 0, 1)
        ] = None,
        style_preset: Style = None,
        seed: Seed = None,
        output_format: Format = None,
        idempotency_key: IdempotencyKey = None,
        on_progress: ProgressCallback | None = None,
    ) -> MediaT:
        """Extend the image in any direction; at least one side must grow (4 credits)."""
        spec = _image_op("edit/outpaint", _fields(locals(), "image"), image=image)
        return self._media(spec, idempotency_key, on_progress)

    def edit_search_and_replace(
        self,
        image: Image,
        prompt: Prompt,
        search_prompt: Annotated[str, Param("What to find and replace.", max_length=10000)],
        *,
        negative_prompt: NegativePrompt = None,
        grow_mask: Annotated[
            int | None,
            Param("Grow the found area's edges by this many pixels (default 3).", 0, 20),
        ] = None,
        style_preset: Style = None,
        seed: Seed = None,
        output_format: Format = None,
        idempotency_key: IdempotencyKey = None,
        on_progress: ProgressCallback | None = None,
    ) -> MediaT:
        """Find an object by `search_prompt` and replace it with `prompt` (5 credits)."""
        spec = _image_op("edit/search-and-replace", _fields(locals(), "image"), image=image)
        return self._media(spec, idempotency_key, on_progress)

    def edit_search_and_recolor(
        self,
        image: Image,
        prompt: Prompt,
        select_prompt: Annotated[str, Param("What to find and recolor.", max_length=10000)],
        *,
        negative_prompt: NegativePrompt = None,
        grow_mask: Annotated[
            int | None,
            Param("Grow the found area's edges by this many pixels (default 3).", 0, 20),
        ] = None,
        style_preset: Style = None,
        seed: Seed = None,
        output_format: Format = None,
        idempotency_key: IdempotencyKey = None,
        on_progress: ProgressCallback | None = None,
    ) -> MediaT:
        """Find an object by `select_prompt` and recolor it as `prompt` says (5 credits)."""
        spec = _image_op("edit/search-and-recolor", _fields(locals(), "image"), image=image)
        return self._media(spec, idempotency_key, on_progress)

    def edit_remove_background(
        self,
        image: Annotated[
            ImageInput, Param("Input image: every side at least 64 px, 4096-4194304 pixels.")
        ],
        *,
        output_format: Annotated[
            Literal["png", "webp"] | None,
            Param(
                "File format (default png; no jpeg, which has no alpha).", choices=("png", "webp")
            ),
        ] = None,
        idempotency_key: IdempotencyKey = None,
        on_progress: ProgressCallback | None = None,
    ) -> MediaT:
        """Cut the subject out on a transparent background (5 credits)."""
        spec = _image_op("edit/remove-background", _fields(locals(), "image"), image=image)
        return self._media(spec, idempotency_key, on_progress)

    def edit_replace_background_and_relight(
        self,
        subject_image: Annotated[ImageInput, Param("Image whose subject is kept.")],
        *,
        background_prompt: Annotated[
            str | None,
            Param("The new background (or pass background_reference).", max_length=10000),
        ] = None,
        background_reference: Annotated[
            ImageInput | None, Param("Image whose look the new background takes.")
        ] = None,
        foreground_prompt: Annotated[
            str | None, Param("Describes the subject, to keep it intact.", max_length=10000)
        ] = None,
        negative_prompt: NegativePrompt = None,
        preserve_original_subject: Annotated[
            float | None, Param("How closely the subject is kept (default 0.6).", 0, 1)
        ] = None,
        original_background_depth: Annotated[
            float | None, Param("How much of the original depth is kept (default 0.5).", 0, 1)
        ] = None,
        keep_original_background: Annotated[
            bool | None, Param("Relight only, keeping the background.")
        ] = None,
        light_source_direction: Annotated[
            Literal["left", "right", "above", "below"] | None,
            Param("Where the light comes from.", choices=("left", "right", "above", "below")),
        ] = None,
        light_reference: Annotated[
            ImageInput | None, Param("Image whose lighting is used.")
        ] = None,
        light_source_strength: Annotated[
            float | None,
            Param("Light strength (default 0.3); needs a light reference or direction.", 0, 1),
        ] = None,
        seed: Seed = None,
        output_format: Format = None,
        idempotency_key: IdempotencyKey = None,
    ) -> JobT:
        """Asynchronous: replace the background and relight the subject (8 credits)."""
        fields = _fields(locals(), "subject_image", "background_reference", "light_reference")
        spec = _image_op(
            "edit/replace-background-and-relight",
            fields,
            job=True,
            subject_image=subject_image,
            background_reference=background_reference,
            light_reference=light_reference,
        )
        return self._submit(spec, idempotency_key)

    # -- v2beta: control ------------------------------------------------------

    def control_sketch(
        self,
        image: Annotated[ImageInput, Param("Sketch to follow: at most 9437184 pixels.")],
        prompt: Prompt,
        *,
        control_strength: Annotated[
            float | None, Param("How closely the sketch is followed (default 0.7).", 0, 1)
        ] = None,
        negative_prompt: NegativePrompt = None,
        style_preset: Style = None,
        seed: Seed = None,
        output_format: Format = None,
        idempotency_key: IdempotencyKey = None,
        on_progress: ProgressCallback | None = None,
    ) -> MediaT:
        """Turn a sketch into an image following its lines (5 credits)."""
        spec = _image_op("control/sketch", _fields(locals(), "image"), image=image)
        return self._media(spec, idempotency_key, on_progress)

    def control_structure(
        self,
        image: Annotated[ImageInput, Param("Image whose structure is kept.")],
        prompt: Prompt,
        *,
        control_strength: Annotated[
            float | None, Param("How closely the structure is followed (default 0.7).", 0, 1)
        ] = None,
        negative_prompt: NegativePrompt = None,
        style_preset: Style = None,
        seed: Seed = None,
        output_format: Format = None,
        idempotency_key: IdempotencyKey = None,
        on_progress: ProgressCallback | None = None,
    ) -> MediaT:
        """Generate an image that keeps the input's structure (5 credits)."""
        spec = _image_op("control/structure", _fields(locals(), "image"), image=image)
        return self._media(spec, idempotency_key, on_progress)

    def control_style(
        self,
        image: Annotated[ImageInput, Param("Style reference image.")],
        prompt: Prompt,
        *,
        fidelity: Annotated[
            float | None, Param("How closely the style is followed (default 0.5).", 0, 1)
        ] = None,
        negative_prompt: NegativePrompt = None,
        aspect_ratio: Aspect = None,
        style_preset: Style = None,
        seed: Seed = None,
        output_format: Format = None,
        idempotency_key: IdempotencyKey = None,
        on_progress: ProgressCallback | None = None,
    ) -> MediaT:
        """Generate an image in the style of a reference image (5 credits)."""
        spec = _image_op("control/style", _fields(locals(), "image"), image=image)
        return self._media(spec, idempotency_key, on_progress)

    def control_style_transfer(
        self,
        init_image: Annotated[ImageInput, Param("Image to restyle.")],
        style_image: Annotated[ImageInput, Param("Image whose style is applied.")],
        *,
        prompt: OptionalPrompt = None,
        negative_prompt: NegativePrompt = None,
        style_strength: Annotated[
            float | None, Param("How strongly the style applies (default 1).", 0, 1)
        ] = None,
        composition_fidelity: Annotated[
            float | None, Param("How closely the composition is kept (default 0.9).", 0, 1)
        ] = None,
        change_strength: Annotated[
            float | None, Param("How much the original changes (default 0.9).", 0.1, 1)
        ] = None,
        seed: Seed = None,
        output_format: Format = None,
        idempotency_key: IdempotencyKey = None,
        on_progress: ProgressCallback | None = None,
    ) -> MediaT:
        """Apply the style of one image to another (8 credits)."""
        spec = _image_op(
            "control/style-transfer",
            _fields(locals(), "init_image", "style_image"),
            init_image=init_image,
            style_image=style_image,
        )
        return self._media(spec, idempotency_key, on_progress)

    # -- v2beta: video and 3D -------------------------------------------------

    def image_to_video(
        self,
        image: Annotated[
            ImageInput, Param("First frame (jpeg or png): exactly 1024x576, 576x1024 or 768x768.")
        ],
        *,
        cfg_scale: Annotated[
            float | None,
            Param("How strongly the video sticks to the image (default 1.8).", 0, 10),
        ] = None,
        motion_bucket_id: Annotated[
            int | None, Param("Amount of motion; higher moves more (default 127).", 1, 255)
        ] = None,
        seed: Seed = None,
        idempotency_key: IdempotencyKey = None,
    ) -> JobT:
        """Asynchronous: a short mp4 video from an image (20 credits)."""
        spec = build.multipart(
            "/v2beta/image-to-video",
            _fields(locals(), "image"),
            {"image": image},
            accept="application/json",
        )
        return self._submit(spec, idempotency_key)

    def stable_fast_3d(
        self,
        image: Annotated[ImageInput, Param("Image of one object: 4096-4194304 pixels.")],
        *,
        texture_resolution: Texture = None,
        foreground_ratio: Annotated[
            float | None, Param("How much of the frame the object fills (default 0.85).", 0.1, 1)
        ] = None,
        remesh: Remesh = None,
        vertex_count: Annotated[
            int | None, Param("Target vertex count; -1 for no limit (default).", -1, 20000)
        ] = None,
        idempotency_key: IdempotencyKey = None,
        on_progress: ProgressCallback | None = None,
    ) -> MediaT:
        """A textured 3D model (GLB) of the object in an image (10 credits)."""
        spec = build.multipart(
            "/v2beta/3d/stable-fast-3d", _fields(locals(), "image"), {"image": image}, accept="*/*"
        )
        return self._media(spec, idempotency_key, on_progress)

    def stable_point_aware_3d(
        self,
        image: Annotated[ImageInput, Param("Image of one object: 4096-4194304 pixels.")],
        *,
        texture_resolution: Texture = None,
        foreground_ratio: Annotated[
            float | None, Param("How much of the frame the object fills (default 1.3).", 1, 2)
        ] = None,
        remesh: Remesh = None,
        target_type: Annotated[
            Literal["none", "vertex", "face"] | None,
            Param("What target_count counts (default none).", choices=("none", "vertex", "face")),
        ] = None,
        target_count: Annotated[
            int | None, Param("Target vertex or face count (default 1000).", 100, 20000)
        ] = None,
        guidance_scale: Annotated[
            float | None, Param("How closely the image is followed (default 3).", 1, 10)
        ] = None,
        seed: Seed = None,
        idempotency_key: IdempotencyKey = None,
        on_progress: ProgressCallback | None = None,
    ) -> MediaT:
        """A 3D model (GLB) from an image with point-cloud guidance (4 credits)."""
        spec = build.multipart(
            "/v2beta/3d/stable-point-aware-3d",
            _fields(locals(), "image"),
            {"image": image},
            accept="*/*",
        )
        return self._media(spec, idempotency_key, on_progress)

    # -- asynchronous results -------------------------------------------------

    def generation(self, generation_id: str) -> JobT:
        """A handle for an asynchronous generation started earlier (by its id)."""
        if not generation_id:
            raise ValueError("generation_id is required")
        return self._job(generation_id)


def _image_op(
    service: str, fields: Mapping[str, Any], *, job: bool = False, **images: ImageInput | None
) -> RequestSpec:
    """``POST /v2beta/stable-image/{service}``: raw bytes back, or ``{id}`` for a job."""
    accept = "application/json" if job else "image/*"
    return build.multipart(f"/v2beta/stable-image/{service}", fields, images, accept=accept)
