"""The artifact store protocol."""

from __future__ import annotations

from typing import Protocol


class ArtifactStore(Protocol):
    """Blobs by key. Keys are `/`-separated, made of [A-Za-z0-9._-] segments."""

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes:
        """The blob, or `KeyError` if it does not exist."""
        ...

    def delete_prefix(self, prefix: str) -> None:
        """Delete every blob under `prefix/` (a missing prefix is fine)."""
        ...
