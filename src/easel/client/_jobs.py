"""Handles for asynchronous generations (creative upscale, replace background
and relight, image-to-video): poll ``GET /v2beta/results/{id}`` until the
result is ready, with backoff; report easel's progress; cancel on easel.

`GenerationJob` and `AsyncGenerationJob` differ only in how they send and
sleep; what a poll answer means is decided once, in `JobState`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import httpx

from . import _requests as build
from ._errors import StabilityError
from ._media import MediaResult
from ._progress import GenerationProgress, ProgressCallback
from ._requests import RequestSpec
from ._types import read_json

if TYPE_CHECKING:
    from ._client import AsyncClient, Client

#: Stability asks clients to poll at most once every 10 s; easel answers faster.
STABILITY_POLL_INTERVAL = 10.0
EASEL_POLL_INTERVAL = 1.0
#: Each wait between polls grows by this factor, up to `MAX_POLL_INTERVAL`.
POLL_BACKOFF = 1.5
MAX_POLL_INTERVAL = 10.0


class GenerationTimeoutError(StabilityError, TimeoutError):
    """`wait()` gave up before the generation finished; it may still finish
    (wait again, or fetch it later by id within 24 hours)."""


def result_spec(generation_id: str) -> RequestSpec:
    """``GET /v2beta/results/{id}``, asking for the raw file (any media type)."""
    return RequestSpec("GET", f"/v2beta/results/{quote(generation_id, safe='')}", accept="*/*")


def poll_delays(poll_interval: float) -> Callable[[int], float]:
    """The wait before poll ``n`` (from 0): `poll_interval`, growing by
    `POLL_BACKOFF` up to `MAX_POLL_INTERVAL` (or `poll_interval` if longer)."""
    ceiling = max(poll_interval, MAX_POLL_INTERVAL)
    return lambda n: min(poll_interval * POLL_BACKOFF**n, ceiling)


class JobState:
    """What is known about one asynchronous generation; no I/O."""

    def __init__(self, generation_id: str, default_interval: float, clock: Callable[[], float]):
        self.id = generation_id
        #: ``in-progress`` until the result arrives, then ``succeeded``.
        self.status = "in-progress"
        #: easel's progress, 0 to 1; ``None`` where the server does not say (Stability).
        self.progress: float | None = None
        self.result: MediaResult | None = None
        self._default_interval = default_interval
        self._clock = clock
        self._started = clock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, status={self.status!r})"

    @property
    def done(self) -> bool:
        return self.result is not None

    def _absorb(self, response: httpx.Response) -> MediaResult | None:
        """Take in one poll answer: 202 updates the progress, 200 is the result."""
        if response.status_code == 202:
            body = read_json(response)
            progress = body.get("progress") if isinstance(body, dict) else None
            if isinstance(progress, int | float) and not isinstance(progress, bool):
                self.progress = float(progress)
            return None
        self.result = MediaResult.from_response(response, generation_id=self.id)
        self.status, self.progress = "succeeded", 1.0 if self.progress is not None else None
        return self.result

    def _report(self, on_progress: ProgressCallback | None) -> None:
        if on_progress is None:
            return
        on_progress(
            GenerationProgress(
                generation_id=self.id,
                status="succeeded" if self.done else "running",
                progress=self.progress or (1.0 if self.done else 0.0),
                step=None,
                steps=None,
                queue_position=None,
                elapsed=self._clock() - self._started,
            )
        )

    def _deadline(self, timeout: float | None) -> float | None:
        return None if timeout is None else self._clock() + timeout

    def _check_deadline(self, deadline: float | None, delay: float) -> float:
        """The delay to sleep, cut to the deadline; raises once it has passed."""
        if deadline is None:
            return delay
        left = deadline - self._clock()
        if left <= 0:
            raise GenerationTimeoutError(f"generation {self.id} is still in progress")
        return min(delay, left)


class GenerationJob(JobState):
    """An asynchronous generation seen from `Client`."""

    def __init__(self, client: Client, generation_id: str) -> None:
        super().__init__(generation_id, client.poll_interval, client._clock)
        self._client = client

    def poll(self) -> MediaResult | None:
        """Ask once: the result if it is ready, else ``None`` (progress updated)."""
        if self.result is None:
            self._absorb(self._client._send(result_spec(self.id)))
        return self.result

    def wait(
        self,
        timeout: float | None = None,
        poll_interval: float | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> MediaResult:
        """Poll until the result is ready and return it.

        Args:
            timeout: seconds to wait in all (``None``: no limit); then
                `GenerationTimeoutError`.
            poll_interval: first wait between polls, growing 1.5x per poll up to
                10 s (default 10 s on Stability, whose limit that is; 1 s elsewhere).
            on_progress: called after every poll with a `GenerationProgress`.
        """
        delays = poll_delays(poll_interval or self._default_interval)
        deadline = self._deadline(timeout)
        polls = 0
        while (result := self.poll()) is None:
            self._report(on_progress)
            self._client._sleep(self._check_deadline(deadline, delays(polls)))
            polls += 1
        self._report(on_progress)
        return result

    def cancel(self) -> None:
        """Stop the generation (``DELETE /v1/generation/{id}``; easel only)."""
        self._client._send(build.cancel(self.id))

    def save(self, path: str | PathLike[str], timeout: float | None = None) -> Path:
        """Wait for the result and write it (see `MediaResult.save`)."""
        return self.wait(timeout).save(path)


class AsyncGenerationJob(JobState):
    """An asynchronous generation seen from `AsyncClient`; the same methods, awaited."""

    def __init__(self, client: AsyncClient, generation_id: str) -> None:
        super().__init__(generation_id, client.poll_interval, client._clock)
        self._client = client

    async def poll(self) -> MediaResult | None:
        """Ask once: the result if it is ready, else ``None``."""
        if self.result is None:
            self._absorb(await self._client._send(result_spec(self.id)))
        return self.result

    async def wait(
        self,
        timeout: float | None = None,
        poll_interval: float | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> MediaResult:
        """Poll until the result is ready (see `GenerationJob.wait`)."""
        delays = poll_delays(poll_interval or self._default_interval)
        deadline = self._deadline(timeout)
        polls = 0
        while (result := await self.poll()) is None:
            self._report(on_progress)
            sleep: Callable[[float], Awaitable[None]] = self._client._sleep
            await sleep(self._check_deadline(deadline, delays(polls)))
            polls += 1
        self._report(on_progress)
        return result

    async def cancel(self) -> None:
        """Stop the generation (``DELETE /v1/generation/{id}``; easel only)."""
        await self._client._send(build.cancel(self.id))

    async def save(self, path: str | PathLike[str], timeout: float | None = None) -> Path:
        """Wait for the result and write it (see `MediaResult.save`)."""
        return (await self.wait(timeout)).save(path)
