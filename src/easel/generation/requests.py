"""One typed request per operation, whatever API version asked for it.

A router turns its protocol's body into one of these; the generation service
validates it against the engine, resolves its seeds, prices it and stores it
(see `codec`); a worker rebuilds it and asks the engine for
`to_engine()`. Each class declares its `operation` name and registers
itself, so a new operation (v2beta's generate, edit, control, …) is a new
subclass in a new module, and the codec, the service and the job layer need
no change.

Images are PIL images; the codec stores them as artifacts. `seed` is what
the client asked for (0: random) and `seeds` what the service resolved, one
per sample.
"""

from __future__ import annotations

from functools import cache
from typing import Any, ClassVar, get_args, get_origin, get_type_hints

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from easel.engines.base import EngineSpec, GenerationKind, GenerationRequest, WeightedPrompt
from easel.engines.dimensions import check_dimensions, upscale_size
from easel.engines.schedulers import resolve_sampler
from easel.errors import InvalidRequest
from easel.generation.outputs import OutputFormat
from easel.generation.seeds import MAX_SEED, resolve_seeds

OPERATIONS: dict[str, type[OperationRequest]] = {}


class OperationRequest(BaseModel):
    """What every operation has: seeds, the number of outputs and their format."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    operation: ClassVar[str]
    # What the engine is asked to do for this operation.
    engine_kind: ClassVar[GenerationKind]

    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    samples: int = Field(default=1, ge=1, le=10)
    seeds: tuple[int, ...] = ()
    output_format: OutputFormat = "png"

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        name = cls.__dict__.get("operation")
        if name is not None:
            if name in OPERATIONS:
                raise TypeError(f"operation {name!r} is declared twice")
            OPERATIONS[name] = cls

    @classmethod
    def image_fields(cls) -> tuple[str, ...]:
        """The fields that hold images; the codec stores them as artifacts."""
        return _image_fields(cls)

    def for_engine(self, spec: EngineSpec) -> OperationRequest:
        """This request with what it leaves to the engine filled in (sizes, steps)."""
        return self

    def check(self, spec: EngineSpec) -> None:
        """Raise `InvalidRequest` if `spec`'s engine cannot run this request as given."""

    def prompt_texts(self) -> list[tuple[str, str]]:
        """Every text the prompt filter must see, with the field it came in."""
        return []

    def with_seeds(self) -> OperationRequest:
        """This request with one resolved seed per sample."""
        return self.model_copy(update={"seeds": tuple(resolve_seeds(self.seed, self.samples))})

    def to_engine(self) -> GenerationRequest:
        """The engine's view of this request (seeds must be resolved)."""
        raise NotImplementedError

    def png_parameters(self, engine_id: str) -> dict[str, Any]:
        """What an output PNG records about how it was made (its seed is added per image)."""
        work = self.to_engine()
        return {
            "engine_id": engine_id,
            "kind": self.operation,
            "prompts": [[p.text, p.weight] for p in work.prompts],
            "width": work.width,
            "height": work.height,
            "steps": work.steps,
            "cfg_scale": work.cfg_scale,
            "sampler": resolve_sampler(work.sampler),
            "style_preset": work.style_preset,
        }


@cache  # resolving a class's type hints took a request 0.3 ms; a class's fields never change
def _image_fields(cls: type[OperationRequest]) -> tuple[str, ...]:
    hints = get_type_hints(cls)
    return tuple(name for name in cls.model_fields if _is_image_type(hints[name]))


def _is_image_type(annotation: object) -> bool:
    return annotation is Image.Image or (
        get_origin(annotation) is not None and Image.Image in get_args(annotation)
    )


# -- v1 -------------------------------------------------------------------------------------


class PromptedRequest(OperationRequest):
    """A diffusion request steered by weighted prompts (negative weights steer away)."""

    prompts: tuple[WeightedPrompt, ...] = Field(min_length=1)
    steps: int = Field(default=30, ge=1, le=150)
    cfg_scale: float = Field(default=7.0, ge=0, le=35)
    sampler: str | None = None
    style_preset: str | None = None
    extras: dict[str, Any] = Field(default_factory=dict)

    def check(self, spec: EngineSpec) -> None:
        if not any(p.weight > 0 and p.text.strip() for p in self.prompts):
            raise InvalidRequest(
                "text_prompts: at least one prompt with a positive weight is required"
            )

    def prompt_texts(self) -> list[tuple[str, str]]:
        return [(f"text_prompts[{i}]", p.text) for i, p in enumerate(self.prompts)]

    def _engine(self, **fields: Any) -> GenerationRequest:
        return GenerationRequest(
            kind=self.engine_kind,
            prompts=list(self.prompts),
            seeds=list(self.seeds),
            steps=self.steps,
            cfg_scale=self.cfg_scale,
            sampler=self.sampler,
            style_preset=self.style_preset,
            extras=dict(self.extras),
            **fields,
        )


class TextToImage(PromptedRequest):
    operation = "text-to-image"
    engine_kind = "text-to-image"

    width: int = 512
    height: int = 512

    def check(self, spec: EngineSpec) -> None:
        check_dimensions(spec.family, self.width, self.height)
        super().check(spec)

    def to_engine(self) -> GenerationRequest:
        return self._engine(width=self.width, height=self.height)


class InitImageRequest(PromptedRequest):
    """A prompted request that starts from `init_image`, whose size is the output's."""

    init_image: Image.Image

    def check(self, spec: EngineSpec) -> None:
        check_dimensions(spec.family, *self.init_image.size, subject="init_image")
        super().check(spec)

    def _engine(self, **fields: Any) -> GenerationRequest:
        return super()._engine(
            width=self.init_image.width,
            height=self.init_image.height,
            init_image=self.init_image.convert("RGB"),
            **fields,
        )


class ImageToImage(InitImageRequest):
    operation = "image-to-image"
    engine_kind = "image-to-image"

    # the fraction of the init image kept; ignored when step_schedule_start is set
    image_strength: float = Field(default=0.35, ge=0, le=1)
    step_schedule_start: float | None = Field(default=None, ge=0, le=1)
    step_schedule_end: float | None = Field(default=None, ge=0, le=1)

    def to_engine(self) -> GenerationRequest:
        return self._engine(
            image_strength=self.image_strength,
            step_schedule_start=self.step_schedule_start,
            step_schedule_end=self.step_schedule_end,
        )


class Masking(InitImageRequest):
    operation = "masking"
    engine_kind = "masking"

    # mode "L": white marks the pixels to repaint
    mask: Image.Image

    def to_engine(self) -> GenerationRequest:
        return self._engine(mask=self.mask.convert("L"))


class Upscale(OperationRequest):
    operation = "upscale"
    engine_kind = "upscale"

    image: Image.Image
    # the output size asked for: at most one of the two (None: the engine's factor)
    width: int | None = None
    height: int | None = None
    prompts: tuple[WeightedPrompt, ...] = ()
    steps: int = Field(default=30, ge=1, le=150)
    cfg_scale: float = Field(default=7.0, ge=0, le=35)

    def check(self, spec: EngineSpec) -> None:
        self._output_size()

    def prompt_texts(self) -> list[tuple[str, str]]:
        return [(f"text_prompts[{i}]", p.text) for i, p in enumerate(self.prompts)]

    def _output_size(self) -> tuple[int, int]:
        return upscale_size(
            self.image.width,
            self.image.height,
            target_width=self.width,
            target_height=self.height,
        )

    def to_engine(self) -> GenerationRequest:
        width, height = self._output_size()
        return GenerationRequest(
            kind="upscale",
            prompts=list(self.prompts),
            width=width,
            height=height,
            seeds=list(self.seeds),
            steps=self.steps,
            cfg_scale=self.cfg_scale,
            init_image=self.image.convert("RGB"),
        )
