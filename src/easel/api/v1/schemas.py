"""v1 response and request bodies, named as in Stability's v1 OpenAPI spec."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class OrganizationMembership(BaseModel):
    id: str
    name: str
    role: str
    is_default: bool


class AccountResponseBody(BaseModel):
    id: str
    email: str
    # Optional in the spec and `format: uri` there: omitted rather than sent empty.
    profile_picture: str | None = None
    organizations: list[OrganizationMembership]


class BalanceResponseBody(BaseModel):
    credits: float


class Engine(BaseModel):
    id: str
    name: str
    description: str
    type: str


class EnginePricing(BaseModel):
    """easel's extension: what `estimate_credits` needs to price a request."""

    engine_id: str
    kind: str
    credits_per_image: float
    base_pixels: int
    base_steps: int


FinishReason = Literal["SUCCESS", "ERROR", "CONTENT_FILTERED"]


class Image(BaseModel):
    """One generated image of a JSON generation response."""

    base64: str = Field(description="The image (PNG) encoded in base64")
    seed: int = Field(description="The seed associated with this image")
    finishReason: FinishReason = Field(  # Stability's spelling
        description="CONTENT_FILTERED: the image was blurred by the content filter"
    )


class GenerationResponseBody(BaseModel):
    """The result of a generation: one artifact per sample. Stability's spec says a bare
    array; real clients and the live API read this object."""

    artifacts: list[Image]


class GenerationError(BaseModel):
    name: str
    message: str


class GenerationStatus(BaseModel):
    """easel's extension: one generation job as its owner sees it."""

    id: str
    status: str
    progress: float
    engine_id: str
    kind: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime
    credits_reserved: float
    credits_charged: float
    artifacts: int
    error: GenerationError | None
    parameters: dict[str, Any] = Field(
        default_factory=dict,
        description="The request as the generation stored it: `operation`, every parameter "
        "as sent, `seeds` (one per image, resolved) and the names of its `input_images`.",
    )


class ApiKey(BaseModel):
    """easel's extension: one of the caller's API keys, without its secret."""

    id: str
    name: str
    prefix: str = Field(description="The start of the secret, enough to recognise the key.")
    created_at: datetime
    last_used_at: datetime | None = Field(
        description="When a request last authenticated with it (written within seconds)."
    )
    revoked_at: datetime | None


class CreatedApiKey(ApiKey):
    secret: str = Field(description="The whole key. Shown once: it is stored only as a hash.")


class CreateApiKeyRequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", max_length=200, description="A label for the key.")


class DailyCredits(BaseModel):
    """easel's extension: credits charged to the organization in scope on one UTC day."""

    day: date
    credits: float
