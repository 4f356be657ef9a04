"""v2beta response negotiation (reference §1.2, §1.3).

`Accept: image/*` (the default, also `*/*`, `image/png`…) answers the raw bytes
in the requested `output_format`, streamed from the artifact store, with
`finish-reason` and `seed` headers;
`application/json` (with or without a `type=` parameter) answers
`{image, finish_reason, seed}` with content type `application/json; type=image/<fmt>`
and no such headers. Anything else is a 400 in v2beta's shape. Videos answer
the same way under `video/*`, their JSON key being `video` (reference §3.19).
"""

from __future__ import annotations

import base64
import json

from fastapi import Request, Response

from easel.api.streaming import stream_output
from easel.errors import InvalidRequest
from easel.generation.service import OutputFile

ACCEPTED = "image/*, video/*, application/json"


def wants_json(request: Request) -> bool:
    """Whether to answer JSON; the first media range we serve wins, quality ignored."""
    accept = request.headers.get("accept", "").strip()
    if not accept:
        return False
    for media_range in accept.split(","):
        media = media_range.split(";", 1)[0].strip().lower()
        if media == "application/json":
            return True
        if media == "*/*" or media.startswith(("image/", "video/")):
            return False
    raise InvalidRequest(f"accept: must be one of {ACCEPTED}, got {accept!r}", name="bad_request")


async def render_output(output: OutputFile, *, as_json: bool) -> Response:
    if as_json:
        encoded = base64.b64encode(await output.read()).decode("ascii")
        body = {
            # "image", or "video" for a video (Stability's key is the media's top-level type)
            output.media_type.split("/", 1)[0]: encoded,
            "finish_reason": output.finish_reason,
            "seed": output.seed,
        }
        return Response(json.dumps(body), media_type=f"application/json; type={output.media_type}")
    return await stream_output(
        output, {"finish-reason": output.finish_reason, "seed": str(output.seed)}
    )
