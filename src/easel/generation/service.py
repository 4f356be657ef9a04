"""The generation service: what every API version's router calls.

`start` takes one typed `OperationRequest` and does the protocol-neutral work:
it checks the request against its engine (what the engine serves, its
dimension rules), runs the prompt filter, resolves seeds, prices the job,
stores the request and submits the job. `result` turns a finished job into
its output files (or its error), and `cancel` stops one. Idempotency lives
in the job layer, keyed by the hash of the stored request.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
from PIL import Image

from easel.billing.prices import generation_cost_milli
from easel.engines.base import (
    ENGINE_KIND_NAMES,
    EngineSpec,
    GeneratedImage,
    GeneratedMesh,
    GeneratedOutput,
    GeneratedVideo,
    GenerationRequest,
)
from easel.engines.registry import EngineRegistry
from easel.errors import Conflict, EaselError, InvalidRequest
from easel.generation import codec
from easel.generation.outputs import encode_glb, encode_image, encode_mp4
from easel.generation.requests import OperationRequest
from easel.jobs.models import JobView
from easel.jobs.service import JobHandle, JobRequest, JobService, Submission
from easel.jobs.work import EncodedOutput
from easel.safety.outputs import OutputClassifier, blur
from easel.safety.prompts import PromptFilter
from easel.storage.base import ArtifactStore


@dataclass(frozen=True)
class OutputFile:
    """One output of a finished generation.

    Its bytes stay in the artifact store until asked for: `read` them whole (a JSON
    body carries them in base64) or `open` them to stream to the client in chunks,
    so a large output served from S3 is never held in memory at once.
    """

    key: str
    media_type: str
    seed: int
    finish_reason: str
    store: ArtifactStore = field(repr=False, compare=False)

    async def read(self) -> bytes:
        return await anyio.to_thread.run_sync(self.store.get, self.key)

    async def open(self) -> OpenedOutput:
        """Opened, with its first chunk read by the same thread: an output of one chunk
        (every image) is then whole, and needs no other thread to send; a longer one's
        other chunks are read, by a thread, as they are consumed."""
        return await anyio.to_thread.run_sync(self._open)

    def _open(self) -> OpenedOutput:
        stream = self.store.open(self.key)
        first = next(stream.chunks, b"")
        if len(first) < stream.size:
            return OpenedOutput(stream.size, first, stream.chunks)
        stream.chunks.close()  # all of it: let go of the file (or S3 response) now
        return OpenedOutput(stream.size, first, None)


@dataclass(frozen=True)
class OpenedOutput:
    """An output opened to send: its size, its first chunk, and an iterator over the
    chunks after it (None when the first chunk is all of it)."""

    size: int
    first: bytes
    rest: Iterator[bytes] | None


class JobFailed(EaselError):
    """A generation that ended without a result: carries the job's own status and name."""

    def __init__(self, view: JobView) -> None:
        super().__init__(view.error_message or "The generation failed.")
        self.status = view.error_status or 500
        self.name = view.error_name or "server_error"


class GenerationService:
    def __init__(
        self, *, engines: EngineRegistry, jobs: JobService, prompt_filter: PromptFilter
    ) -> None:
        self._engines = engines
        self.jobs = jobs
        self._prompt_filter = prompt_filter

    def engine_for(self, engine_id: str, operation: type[OperationRequest]) -> EngineSpec:
        """The engine's spec, or 404 / 400 if it does not exist or cannot run `operation`."""
        spec = self._engines.spec(engine_id)
        if not spec.serves(operation.engine_kind):
            raise InvalidRequest(
                f"engine {engine_id} is {ENGINE_KIND_NAMES[spec.kind]} engine and does not "
                f"support {operation.operation}",
            )
        return spec

    async def start(self, engine_id: str, request: OperationRequest, who: Submission) -> JobHandle:
        """Validate, price and submit `request` (or attach to its idempotent twin)."""
        spec = self.engine_for(engine_id, type(request))
        request = request.for_engine(spec)
        request.check(spec)
        self._prompt_filter.check(request.prompt_texts())
        resolved = request.with_seeds()
        work = resolved.to_engine()
        if codec.carries_images(resolved):  # PNG-compressing them is work for a thread
            stored = await anyio.to_thread.run_sync(codec.encode, resolved)
        else:
            stored = codec.encode(resolved)
        job = JobRequest(
            engine_id=spec.id,
            kind=request.operation,
            params=stored.params,
            params_hash=stored.params_hash,
            blobs=stored.blobs,
            cost_milli=price(spec, work),
            batch_key=batch_key(spec.id, work),
        )
        return await self.jobs.submit(job, who)

    async def result(self, view: JobView) -> list[OutputFile]:
        """The output files of a finished job; its error as `JobFailed`; `Conflict` (409)
        while it is queued or running, which is not a failure."""
        if not view.done:
            raise Conflict(
                f"The generation is still {view.status}; its results are ready once "
                f"GET /v1/generations/{view.id} says succeeded (or follow its events)."
            )
        if view.status != "succeeded":
            raise JobFailed(view)
        store = self.jobs.artifacts
        return [
            OutputFile(a.key, a.media_type, a.seed, a.finish_reason, store) for a in view.artifacts
        ]

    async def cancel(self, api_key_id: str, ref: str) -> JobView:
        """Cancel a job of this API key by id or idempotency key."""
        return await self.jobs.cancel(api_key_id, ref)


def price(spec: EngineSpec, work: GenerationRequest) -> int:
    """The job's cost in thousandths of a credit."""
    return generation_cost_milli(
        spec, width=work.width, height=work.height, steps=work.steps, samples=work.samples
    )


def batch_key(engine_id: str, work: GenerationRequest) -> str:
    """Jobs with equal keys can run as one engine call."""
    return json.dumps([engine_id, *work.batch_key()])


# -- the worker's side ----------------------------------------------------------------------


@dataclass(frozen=True)
class GenerationWork:
    """A stored job rebuilt for its engine (implements `easel.jobs.work.Work`)."""

    engine_id: str
    operation: OperationRequest
    request: GenerationRequest
    # what each output PNG records (its seed is added per image)
    parameters: dict[str, Any]
    classifier: OutputClassifier | None = None

    def encode(self, output: GeneratedOutput) -> EncodedOutput:
        if isinstance(output, GeneratedVideo):
            return self._encode_video(output)
        if isinstance(output, GeneratedMesh):
            encoded = encode_glb(output.glb)
            return EncodedOutput(encoded.data, encoded.media_type, encoded.extension)
        return self._encode_image(output)

    def _flagged(self, image: Image.Image) -> bool:
        prompts = [text for _, text in self.operation.prompt_texts()]
        return self.classifier is not None and self.classifier.flags(image, prompts)

    def _encode_video(self, output: GeneratedVideo) -> EncodedOutput:
        """MP4; frames the classifier flags are blurred (Stability: CONTENT_FILTERED)."""
        frames = [blur(frame) if self._flagged(frame) else frame for frame in output.frames]
        filtered = any(a is not b for a, b in zip(frames, output.frames, strict=True))
        finish_reason = "CONTENT_FILTERED" if filtered else output.finish_reason
        encoded = encode_mp4(frames, output.fps)
        return EncodedOutput(encoded.data, encoded.media_type, encoded.extension, finish_reason)

    def _encode_image(self, output: GeneratedImage) -> EncodedOutput:
        image = (
            output.image if output.image.mode in ("RGB", "RGBA") else output.image.convert("RGB")
        )
        finish_reason = output.finish_reason
        if self._flagged(image):
            image, finish_reason = blur(image), "CONTENT_FILTERED"
        parameters = {**self.parameters, "seed": output.seed}
        encoded = encode_image(image, self.operation.output_format, parameters=parameters)
        return EncodedOutput(encoded.data, encoded.media_type, encoded.extension, finish_reason)


class WorkDecoder:
    """Rebuilds a stored job for the runner (implements `easel.jobs.work.WorkDecoder`)."""

    def __init__(self, classifier: OutputClassifier | None = None) -> None:
        self._classifier = classifier

    def __call__(
        self, engine_id: str, params: dict[str, Any], load: Callable[[str], bytes]
    ) -> GenerationWork:
        operation = codec.decode(params, load)
        return GenerationWork(
            engine_id,
            operation,
            operation.to_engine(),
            operation.png_parameters(engine_id),
            self._classifier,
        )
