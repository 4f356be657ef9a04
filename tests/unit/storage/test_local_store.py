"""The local artifact store streams a blob in bounded chunks and refuses keys that escape."""

from __future__ import annotations

from pathlib import Path

import pytest

from easel.storage.local import LocalArtifactStore


def test_open_gives_the_size_and_the_bytes_in_bounded_chunks(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    blob = bytes(range(256)) * 10  # 2560 bytes
    store.put("jobs/j1/out/0.png", blob)
    opened = store.open("jobs/j1/out/0.png", chunk_size=1024)
    assert opened.size == len(blob)
    chunks = list(opened.chunks)
    assert [len(c) for c in chunks] == [1024, 1024, 512]
    assert b"".join(chunks) == blob == store.get("jobs/j1/out/0.png")


def test_a_missing_blob_fails_at_open_before_any_chunk(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    with pytest.raises(KeyError):
        store.open("jobs/none/out/0.png")
    with pytest.raises(ValueError):
        store.open("jobs/../escape")
