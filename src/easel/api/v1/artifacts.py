"""Rendering v1 generation results: `{"artifacts": [...]}` JSON, or PNG bytes."""

from __future__ import annotations

import base64

from fastapi import Response
from fastapi.responses import JSONResponse

from easel.generation.service import OutputFile


def wants_png(accept: str | None) -> bool:
    """v1 answers JSON unless the client asks for an image (`image/png`)."""
    return accept is not None and accept.strip().lower().startswith("image/")


def render_artifacts(outputs: list[OutputFile], *, as_png: bool) -> Response:
    if as_png:
        first = outputs[0]
        return Response(
            first.data,
            media_type=first.media_type,
            headers={"Finish-Reason": first.finish_reason, "Seed": str(first.seed)},
        )
    return JSONResponse(
        {
            "artifacts": [
                {
                    "base64": base64.b64encode(o.data).decode("ascii"),
                    "seed": o.seed,
                    "finishReason": o.finish_reason,
                }
                for o in outputs
            ]
        }
    )
