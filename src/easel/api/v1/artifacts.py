"""Rendering v1 generation results: `{"artifacts": [...]}` JSON, or PNG bytes (streamed)."""

from __future__ import annotations

import base64

from fastapi import Response
from fastapi.responses import JSONResponse

from easel.api.streaming import stream_output
from easel.generation.service import OutputFile


def wants_png(accept: str | None) -> bool:
    """v1 answers JSON unless the client asks for an image (`image/png`)."""
    return accept is not None and accept.strip().lower().startswith("image/")


async def render_artifacts(outputs: list[OutputFile], *, as_png: bool) -> Response:
    if as_png:
        first = outputs[0]
        return await stream_output(
            first, {"Finish-Reason": first.finish_reason, "Seed": str(first.seed)}
        )
    return JSONResponse(
        {
            "artifacts": [
                {
                    "base64": base64.b64encode(await o.read()).decode("ascii"),
                    "seed": o.seed,
                    "finishReason": o.finish_reason,
                }
                for o in outputs
            ]
        }
    )
