"""Runs a batch of jobs on their engine and records each outcome durably.

Shared by every executor: the local one calls it from its worker threads, a
broker-fed worker process calls it the same way. A job's completion is
written to the JobStore (and its credits settled there), never kept only in
memory, so the API process that took the request may be anywhere.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import PngImagePlugin

from easel.engines.base import GeneratedImage, GenerationRequest
from easel.engines.registry import EngineRegistry
from easel.errors import Cancelled, EaselError
from easel.jobs.models import Artifact
from easel.jobs.scheduler import QueuedJob
from easel.jobs.store import JobStore
from easel.storage.base import ArtifactStore

log = logging.getLogger("easel.jobs")


@dataclass(frozen=True)
class JobPayload:
    """What a queued job carries: its engine, its typed request, and PNG metadata."""

    engine_id: str
    request: GenerationRequest
    parameters: dict[str, Any]


class _AllCancelled:
    """Stops the pipeline only when every job of the batch was cancelled."""

    def __init__(self, events: list[threading.Event]) -> None:
        self._events = events

    def is_set(self) -> bool:
        return all(event.is_set() for event in self._events)


class JobRunner:
    def __init__(
        self,
        store: JobStore,
        artifacts: ArtifactStore,
        engines: EngineRegistry,
        *,
        progress_interval: float = 0.5,
        notify: Callable[[str], None] = lambda job_id: None,
    ) -> None:
        self._store = store
        self._artifacts = artifacts
        self._engines = engines
        self._progress_interval = progress_interval
        self._notify = notify

    def run(self, batch: list[QueuedJob]) -> None:
        live = [job for job in batch if self._store.mark_running(job.job_id)]
        for job in live:
            self._notify(job.job_id)
        if not live:
            return
        payloads: list[JobPayload] = [job.payload for job in live]
        settled: set[str] = set()
        last_write = 0.0

        def progress(step: int, total: int) -> None:
            nonlocal last_write
            for job in live:  # a job cancelled inside a running batch stops here
                if job.cancel.is_set() and job.job_id not in settled:
                    self._cancelled(job.job_id)
                    settled.add(job.job_id)
            now = time.monotonic()
            if step < total and now - last_write < self._progress_interval:
                return
            last_write = now
            for job in live:
                if job.job_id not in settled:
                    self._store.set_progress(job.job_id, step / total)
                    self._notify(job.job_id)

        try:
            engine = self._engines.get(payloads[0].engine_id)
            results = engine.generate(
                [p.request for p in payloads],
                progress=progress,
                cancel=_AllCancelled([job.cancel for job in live]),  # type: ignore[arg-type]
            )
        except Cancelled:
            for job in live:
                self._cancelled(job.job_id)
        except EaselError as exc:
            self._fail_all(live, exc.status, exc.name, exc.message)
        except Exception:  # an engine bug must not kill the worker or leak credits
            log.exception("engine %s failed", payloads[0].engine_id)
            self._fail_all(live, 500, "server_error", "The generation failed unexpectedly.")
        else:
            for job, payload, result in zip(live, payloads, results, strict=True):
                if job.job_id in settled or job.cancel.is_set():
                    self._cancelled(job.job_id)
                    continue
                artifacts = [
                    self._save(job.job_id, index, image, payload.parameters)
                    for index, image in enumerate(result.images)
                ]
                self._store.succeed(
                    job.job_id, artifacts, note=f"{payload.engine_id} {payload.request.kind}"
                )
        for job in live:
            self._notify(job.job_id)

    def _save(
        self, job_id: str, index: int, image: GeneratedImage, parameters: dict[str, Any]
    ) -> Artifact:
        key = f"jobs/{job_id}/out-{index}.png"
        self._artifacts.put(key, encode_png(image, parameters))
        return Artifact(key=key, seed=image.seed, finish_reason=image.finish_reason)

    def _cancelled(self, job_id: str) -> None:
        self._store.fail(
            job_id,
            status=Cancelled.status,
            name=Cancelled.name,
            message="The generation was cancelled.",
            cancelled=True,
        )
        self._notify(job_id)

    def _fail_all(self, jobs: list[QueuedJob], status: int, name: str, message: str) -> None:
        for job in jobs:
            self._store.fail(job.job_id, status=status, name=name, message=message)


def encode_png(artifact: GeneratedImage, parameters: dict[str, Any]) -> bytes:
    """PNG bytes with the generation parameters (and the seed) in a text chunk."""
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", json.dumps({**parameters, "seed": artifact.seed}, sort_keys=True))
    buffer = io.BytesIO()
    artifact.image.convert("RGB").save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()
