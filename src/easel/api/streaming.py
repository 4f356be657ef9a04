"""Answering a generation's output as raw bytes, streamed from the artifact store.

The store is read a chunk at a time (`storage.base.CHUNK_SIZE`) on a worker
thread as the client takes the bytes, so an output kept in S3 (a video, a
large image) is never held whole in the API's memory; `Content-Length` comes
from the store, so clients still see the size up front.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi.responses import StreamingResponse

from easel.generation.service import OutputFile


async def stream_output(
    output: OutputFile, headers: Mapping[str, str] | None = None
) -> StreamingResponse:
    """The output's bytes with its media type, `headers` and its `Content-Length`."""
    opened = await output.open()  # a missing blob fails here, before the status line
    return StreamingResponse(
        opened.chunks,  # a plain iterator: Starlette pulls each chunk on a worker thread
        media_type=output.media_type,
        headers={**(headers or {}), "Content-Length": str(opened.size)},
    )
