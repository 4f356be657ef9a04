"""Sending an output's bytes: one body for an output of one chunk, read by the thread
that opened it; a stream of bounded chunks for a longer one (`easel.api.streaming`)."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi.responses import StreamingResponse

from easel.api.streaming import stream_output
from easel.generation.service import OutputFile
from easel.storage.base import CHUNK_SIZE
from easel.storage.local import LocalArtifactStore

KEY = "jobs/j1/out/0.png"


def output(store: LocalArtifactStore) -> OutputFile:
    return OutputFile(key=KEY, media_type="image/png", seed=7, finish_reason="SUCCESS", store=store)


def open_descriptors_to(path: Path) -> int:
    fds = Path("/proc/self/fd")
    return sum(1 for fd in os.listdir(fds) if os.path.realpath(fds / fd) == str(path))


async def test_an_output_of_one_chunk_is_one_body_and_its_file_is_closed_at_once(
    tmp_path: Path,
) -> None:
    store = LocalArtifactStore(tmp_path)
    image = os.urandom(CHUNK_SIZE)  # exactly one chunk
    store.put(KEY, image)
    response = await stream_output(output(store), {"Seed": "7"})
    assert not isinstance(response, StreamingResponse)
    assert response.body == image
    assert response.headers["content-length"] == str(len(image))
    assert (response.headers["seed"], response.media_type) == ("7", "image/png")
    assert open_descriptors_to(tmp_path.joinpath(*KEY.split("/"))) == 0


async def test_a_longer_output_streams_in_chunks_with_its_length_up_front(
    tmp_path: Path,
) -> None:
    store = LocalArtifactStore(tmp_path)
    video = os.urandom(2 * CHUNK_SIZE + 5)
    store.put(KEY, video)
    response = await stream_output(output(store))
    assert isinstance(response, StreamingResponse)
    assert response.headers["content-length"] == str(len(video))
    chunks = [chunk async for chunk in response.body_iterator]
    assert [len(chunk) for chunk in chunks] == [CHUNK_SIZE, CHUNK_SIZE, 5]
    assert b"".join(chunks) == video  # type: ignore[arg-type]
