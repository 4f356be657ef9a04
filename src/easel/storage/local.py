"""Artifacts in a local directory (the default)."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Generator
from pathlib import Path

from easel.storage.base import CHUNK_SIZE, ArtifactStream

_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")


class LocalArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        # keys come from easel itself, but never let one escape the root
        if not all(_SEGMENT.fullmatch(p) and p not in (".", "..") for p in parts):
            raise ValueError(f"invalid artifact key: {key!r}")
        return self.root.joinpath(*parts)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # write then rename, so a reader never sees half a file
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise KeyError(key) from exc

    def open(self, key: str, chunk_size: int = CHUNK_SIZE) -> ArtifactStream:
        path = self._path(key)
        try:
            size = path.stat().st_size
        except FileNotFoundError as exc:
            raise KeyError(key) from exc
        return ArtifactStream(size, _read_chunks(path, chunk_size))

    def delete_prefix(self, prefix: str) -> None:
        shutil.rmtree(self._path(prefix), ignore_errors=True)


def _read_chunks(path: Path, chunk_size: int) -> Generator[bytes, None, None]:
    # opened on the first chunk, so a stream never read holds no file descriptor
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            yield chunk
