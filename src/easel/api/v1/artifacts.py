"""Rendering v1 generation results: `{"artifacts": [...]}` JSON, or PNG bytes."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from fastapi import Response
from fastapi.responses import JSONResponse


@dataclass(frozen=True)
class RenderedArtifact:
    png: bytes
    seed: int
    finish_reason: str


def wants_png(accept: str | None) -> bool:
    """v1 answers JSON unless the client asks for an image (`image/png`)."""
    return accept is not None and accept.strip().lower().startswith("image/")


def render_artifacts(artifacts: list[RenderedArtifact], *, as_png: bool) -> Response:
    if as_png:
        first = artifacts[0]
        return Response(
            first.png,
            media_type="image/png",
            headers={"Finish-Reason": first.finish_reason, "Seed": str(first.seed)},
        )
    return JSONResponse(
        {
            "artifacts": [
                {
                    "base64": base64.b64encode(a.png).decode("ascii"),
                    "seed": a.seed,
                    "finishReason": a.finish_reason,
                }
                for a in artifacts
            ]
        }
    )
