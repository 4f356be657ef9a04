"""v2beta response bodies, named as in Stability's spec."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ImageResponse(BaseModel):
    image: str = Field(description="The image, base64-encoded in the requested format.")
    finish_reason: Literal["SUCCESS", "CONTENT_FILTERED"]
    seed: int = Field(description="The seed the image was made with.")


class GenerationID(BaseModel):
    id: str = Field(description="The id of the asynchronous generation (64 characters).")


class InProgress(BaseModel):
    id: str
    status: Literal["in-progress"] = "in-progress"
    progress: float = Field(description="easel extension: the fraction done, 0-1.")


class V2betaError(BaseModel):
    id: str = Field(description="A unique identifier for this error (also X-Request-Id).")
    name: str = Field(description="The short-name of this class of errors, e.g. bad_request.")
    errors: list[str] = Field(description="One entry per problem, as `field: problem`.")
