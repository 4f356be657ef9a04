"""v2beta `edit/replace-background-and-relight`, protocol-neutral (reference §3.13).

The subject comes from `subject_image` (not `image`); the new background
from `background_prompt` and/or `background_reference` (one is required,
`check_relight_inputs`); the light from `light_source_direction` and/or
`light_reference`, at `light_source_strength` (which needs one of them).
The output has the subject image's size, as Stability's does (§2). What the
engine does with each field is in `engines.backends.relight`; the prompt it
paints the background with is `background_prompt` followed by
`foreground_prompt`, so the model knows what stands in front.
"""

from __future__ import annotations

from typing import Any, Literal

from PIL import Image
from pydantic import Field

from easel.engines.base import EngineSpec, GenerationRequest, WeightedPrompt
from easel.errors import InvalidRequest
from easel.generation.edit import check_image
from easel.generation.stable_image import DEFAULT_STEPS, MAX_PROMPT, StableImageRequest

LightDirection = Literal["left", "right", "above", "below"]


def check_relight_inputs(
    *,
    background_prompt: str | None,
    background_reference: bool,
    light_source_direction: str | None,
    light_reference: bool,
    light_source_strength: float | None,
) -> None:
    """What needs what: a background source; a light for `light_source_strength`."""
    problems = []
    if not background_prompt and not background_reference:
        problems.append("background_prompt, background_reference: one of them is required")
    if light_source_strength is not None and not (light_source_direction or light_reference):
        problems.append("light_source_strength: requires light_source_direction or light_reference")
    if problems:
        raise InvalidRequest("; ".join(problems), errors=problems)


class ReplaceBackgroundAndRelight(StableImageRequest):
    """`edit/replace-background-and-relight`: a new background, and new light on the subject."""

    operation = "stable-image.replace-background-and-relight"
    engine_kind = "replace-background-and-relight"

    subject_image: Image.Image
    background_prompt: str | None = Field(default=None, max_length=MAX_PROMPT)
    background_reference: Image.Image | None = None
    foreground_prompt: str | None = Field(default=None, max_length=MAX_PROMPT)
    preserve_original_subject: float = Field(default=0.6, ge=0, le=1)
    original_background_depth: float = Field(default=0.5, ge=0, le=1)
    keep_original_background: bool = False
    light_source_direction: LightDirection | None = None
    light_reference: Image.Image | None = None
    # None: not given (the engine lights at Stability's default, 0.3, if there is a light)
    light_source_strength: float | None = Field(default=None, ge=0, le=1)

    def check(self, spec: EngineSpec) -> None:
        check_image(self.subject_image, "subject_image", aspect=True)
        for field in ("background_reference", "light_reference"):
            image = getattr(self, field)
            if image is not None:
                check_image(image, field)
        check_relight_inputs(
            background_prompt=self.background_prompt,
            background_reference=self.background_reference is not None,
            light_source_direction=self.light_source_direction,
            light_reference=self.light_reference is not None,
            light_source_strength=self.light_source_strength,
        )

    def prompt_texts(self) -> list[tuple[str, str]]:
        texts = [
            ("background_prompt", self.background_prompt),
            ("foreground_prompt", self.foreground_prompt),
            ("negative_prompt", self.negative_prompt),
        ]
        return [(field, text) for field, text in texts if text]

    def painting_prompts(self) -> list[WeightedPrompt]:
        """What the background is painted with; none when there is no background prompt."""
        if not self.background_prompt:
            return []
        text = ", ".join(t for t in (self.background_prompt, self.foreground_prompt) if t)
        prompts = [WeightedPrompt(text, 1.0)]
        if self.negative_prompt:
            prompts.append(WeightedPrompt(self.negative_prompt, -1.0))
        return prompts

    def to_engine(self) -> GenerationRequest:
        width, height = self.subject_image.size
        extras: dict[str, object] = {
            "preserve_original_subject": self.preserve_original_subject,
            "original_background_depth": self.original_background_depth,
            "keep_original_background": self.keep_original_background,
        }
        if self.light_source_direction is not None:
            extras["light_source_direction"] = self.light_source_direction
        if self.light_source_strength is not None:
            extras["light_source_strength"] = self.light_source_strength
        request = GenerationRequest(
            kind="replace-background-and-relight",
            prompts=self.painting_prompts(),
            width=width,
            height=height,
            seeds=list(self.seeds),
            steps=self.steps or DEFAULT_STEPS,
            init_image=self.subject_image.convert("RGB"),
            reference_image=_rgb(self.background_reference),
            light_image=_rgb(self.light_reference),
            extras=extras,
        )
        if self.cfg_scale is not None:
            request.cfg_scale = self.cfg_scale
        return request

    def png_parameters(self, engine_id: str) -> dict[str, Any]:
        width, height = self.subject_image.size
        return {
            "engine_id": engine_id,
            "kind": self.operation,
            "background_prompt": self.background_prompt,
            "foreground_prompt": self.foreground_prompt,
            "negative_prompt": self.negative_prompt,
            "width": width,
            "height": height,
            "steps": self.steps,
            "cfg_scale": self.cfg_scale,
            "preserve_original_subject": self.preserve_original_subject,
            "original_background_depth": self.original_background_depth,
            "keep_original_background": self.keep_original_background,
            "light_source_direction": self.light_source_direction,
            "light_source_strength": self.light_source_strength,
        }


def _rgb(image: Image.Image | None) -> Image.Image | None:
    return None if image is None else image.convert("RGB")
