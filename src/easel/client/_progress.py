"""Long generations: how long to wait for one, and following its progress on easel.

A synchronous generation answers only when its images are ready, which can
take minutes. The clients therefore

- give each generation attempt a read timeout derived from the request
  (`read_timeout_for`) unless the caller chose a timeout;
- on easel, when that timeout expires, ask whether the job is still queued or
  running (``GET /v1/generations/{idempotency key}``) and, if so, send the same
  request again with the same ``Idempotency-Key``: the server attaches the new
  request to the running job, and such an attempt is not counted as a retry.
  So the wait is unlimited while easel reports the job alive;
- on easel, when the caller passes ``on_progress``, follow the job's events
  stream (``GET /v1/generations/{key}/events``, server-sent events) and call
  it with a `GenerationProgress` for every change.

Stability's hosted API has neither route, so none of this is sent there.
Nothing here does I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from ._requests import RequestSpec

#: Job statuses of easel's ``GET /v1/generations/{id}`` that mean "still working".
LIVE_STATUSES = frozenset({"queued", "running"})

# A generous CPU figure: an SD 1.5 step at 512x512 (0.26 megapixels) takes
# ~0.5-1 s on a laptop CPU; GPUs are 30-100x faster. Too long a timeout only
# delays noticing a dead connection, too short one costs a reconnect.
_SECONDS_PER_MEGAPIXEL_STEP = 4.0
_BASE_SECONDS = 60.0
_MIN_READ_SECONDS = 300.0
# What the server assumes when a request leaves them out (Stability's defaults,
# and the largest default size of any engine).
_DEFAULT_STEPS = 50
_DEFAULT_PIXELS = 1024 * 1024


@dataclass(frozen=True)
class GenerationProgress:
    """One progress report of a running generation (easel only).

    ``status`` is ``queued``, ``running``, ``succeeded``, ``failed`` or
    ``cancelled``; ``progress`` runs from 0 to 1. ``step``/``steps`` are the
    diffusion step and the step count when known, ``queue_position`` the jobs
    ahead of this one when the server reports it, ``elapsed`` seconds since
    the request was first sent.
    """

    generation_id: str | None
    status: str
    progress: float
    step: int | None
    steps: int | None
    queue_position: int | None
    elapsed: float

    @property
    def done(self) -> bool:
        return self.status not in LIVE_STATUSES


ProgressCallback = Callable[[GenerationProgress], None]


def read_timeout_for(spec: RequestSpec) -> float:
    """Seconds a generation attempt may wait for its answer: grows with
    steps × samples × pixels, never under 300 s."""
    fields = _fields(spec)
    steps = _int(fields.get("steps")) or _DEFAULT_STEPS
    samples = _int(fields.get("samples")) or 1
    width, height = _int(fields.get("width")), _int(fields.get("height"))
    pixels = width * height if width and height else _DEFAULT_PIXELS
    estimate = _BASE_SECONDS + _SECONDS_PER_MEGAPIXEL_STEP * steps * samples * pixels / 1e6
    return max(_MIN_READ_SECONDS, estimate)


def requested_steps(spec: RequestSpec) -> int | None:
    """The ``steps`` the request asked for, if it said."""
    return _int(_fields(spec).get("steps"))


def status_path(idempotency_key: str) -> str:
    return f"/v1/generations/{quote(idempotency_key, safe='')}"


def events_path(idempotency_key: str) -> str:
    return f"{status_path(idempotency_key)}/events"


def is_live(response: httpx.Response) -> bool:
    """Whether an answer of ``GET /v1/generations/{key}`` says the job is still working."""
    if response.status_code != 200:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("status") in LIVE_STATUSES


class EventStream:
    """Reads a ``text/event-stream`` line by line; `feed` returns each event's
    JSON ``data`` when the event is complete (other fields are ignored)."""

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> dict[str, Any] | None:
        if line.startswith("data:"):
            self._data.append(line[5:].removeprefix(" "))
            return None
        if line or not self._data:
            return None
        text, self._data = "\n".join(self._data), []
        return _json_object(text)


class ProgressReporter:
    """Turns the lines of one generation's event streams into `on_progress` calls."""

    def __init__(
        self, spec: RequestSpec, on_progress: ProgressCallback, clock: Callable[[], float]
    ) -> None:
        self._on_progress = on_progress
        self._clock = clock
        self._started = clock()
        self._steps = requested_steps(spec)
        self._events = EventStream()

    def reconnected(self) -> None:
        """A new stream begins: forget any half-read event."""
        self._events = EventStream()

    def feed(self, line: str) -> bool:
        """Read one line, report a completed event; True once the job has ended."""
        event = self._events.feed(line)
        if event is None:
            return False
        report = progress_from_event(
            event, steps=self._steps, elapsed=self._clock() - self._started
        )
        self._on_progress(report)
        return report.done


def progress_from_event(
    event: Mapping[str, Any], *, steps: int | None, elapsed: float
) -> GenerationProgress:
    """A `GenerationProgress` from one event of easel's job stream.

    The step comes from the event's ``step``/``steps`` when the server sends
    them, else from ``progress`` × the steps the request asked for.
    """
    progress = float(event.get("progress") or 0.0)
    total = _int(event.get("steps")) or steps
    step = _int(event.get("step"))
    if step is None and total:
        step = round(progress * total)
    return GenerationProgress(
        generation_id=event.get("id") if isinstance(event.get("id"), str) else None,
        status=str(event.get("status", "")),
        progress=progress,
        step=step,
        steps=total,
        queue_position=_int(event.get("queue_position")),
        elapsed=elapsed,
    )


def _fields(spec: RequestSpec) -> Mapping[str, Any]:
    if isinstance(spec.json, Mapping):
        return spec.json
    return spec.data or {}


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
