"""What a worker needs to run a stored job, without knowing any API operation.

The job layer stores each job's request as opaque JSON plus input artifacts.
A `WorkDecoder` (the generation layer provides it; the composition root
injects it) turns that back into `Work`: the engine to call, the engine's
request, and how to encode each output. The job layer depends on these
protocols only, never on the layer above it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from easel.engines.base import GeneratedOutput, GenerationRequest


@dataclass(frozen=True)
class EncodedOutput:
    data: bytes
    media_type: str
    extension: str
    finish_reason: str = "SUCCESS"


class Work(Protocol):
    """One job, ready for its engine."""

    @property
    def engine_id(self) -> str: ...

    @property
    def request(self) -> GenerationRequest: ...

    def encode(self, output: GeneratedOutput) -> EncodedOutput:
        """The output file for one engine output (an image, a video, a mesh)."""
        ...


class WorkDecoder(Protocol):
    def __call__(
        self, engine_id: str, params: dict[str, Any], load: Callable[[str], bytes]
    ) -> Work:
        """Rebuild a job's work from its stored params; `load(name)` reads an input artifact."""
        ...
