"""Answering a generation's output as raw bytes from the artifact store.

An output that fits in one chunk (`storage.base.CHUNK_SIZE`: every image) is read
whole by the thread that opens it and sent as one body. A longer one (a video)
is streamed, a chunk at a time read on a worker thread as the client takes the
bytes, so an output kept in S3 is never held whole in the API's memory.
`Content-Length` comes from the store either way.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from itertools import chain

from fastapi.responses import Response, StreamingResponse

from easel.generation.service import OutputFile


async def stream_output(output: OutputFile, headers: Mapping[str, str] | None = None) -> Response:
    """The output's bytes with its media type, `headers` and its `Content-Length`."""
    opened = await output.open()  # a missing blob fails here, before the status line
    if opened.rest is None:
        return Response(opened.first, media_type=output.media_type, headers=headers)
    chunks: Iterator[bytes] = chain((opened.first,), opened.rest)
    return StreamingResponse(
        chunks,  # a plain iterator: Starlette pulls each chunk on a worker thread
        media_type=output.media_type,
        headers={**(headers or {}), "Content-Length": str(opened.size)},
    )
