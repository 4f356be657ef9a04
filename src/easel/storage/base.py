"""The artifact store protocol."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Protocol

# How much of a blob a reader holds at once when it streams one. Every image fits in
# one, so it is sent with one read; at 64 KiB a 1024² PNG took 33 thread hops to send.
CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class ArtifactStream:
    """A blob opened for reading: its size, and its bytes in chunks read as they are consumed.

    `chunks` releases the file or connection behind it once exhausted or closed.
    """

    size: int
    chunks: Generator[bytes, None, None]


class ArtifactStore(Protocol):
    """Blobs by key. Keys are `/`-separated, made of [A-Za-z0-9._-] segments."""

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes:
        """The blob, or `KeyError` if it does not exist."""
        ...

    def open(self, key: str, chunk_size: int = CHUNK_SIZE) -> ArtifactStream:
        """The blob, to read in chunks of at most `chunk_size` bytes; `KeyError` (raised
        here, before any chunk) if it does not exist."""
        ...

    def delete_prefix(self, prefix: str) -> None:
        """Delete every blob under `prefix/` (a missing prefix is fine)."""
        ...
