"""A job runner in its own OS process: `python -m tests.integration.jobs.worker_main JOB_ID`.

Settings come from `EASEL_*` variables, as for any easel process. Jobs run on
`SlowEngine`, which logs each step it completes to `$EASEL_TEST_STEP_LOG`, so
the test can tell how far a job got after it asked for a cancel.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from easel.config import load_settings
from easel.engines.base import (
    EngineSpec,
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    ProgressCallback,
)
from easel.errors import Cancelled
from easel.wiring import build_worker
from tests.fakes import noise

STEP_SECONDS = 0.05


class SlowEngine:
    def __init__(self, spec: EngineSpec, log: Path, step_seconds: float = STEP_SECONDS) -> None:
        self.spec = spec
        self._log = log
        self._step_seconds = step_seconds

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> list[GenerationResult]:
        total = requests[0].steps
        for step in range(1, total + 1):
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled")
            time.sleep(self._step_seconds)
            with self._log.open("a") as log:
                log.write(f"{step}\n")
            if progress is not None:
                progress(step, total)
        return [
            GenerationResult(
                [GeneratedImage(noise(r.width, r.height, seed), seed) for seed in r.seeds]
            )
            for r in requests
        ]


class SlowEngines:
    def __init__(
        self, specs: dict[str, EngineSpec], log: Path, step_seconds: float = STEP_SECONDS
    ) -> None:
        self._specs = specs
        self._log = log
        self._step_seconds = step_seconds

    def get(self, engine_id: str) -> SlowEngine:
        return SlowEngine(self._specs[engine_id], self._log, self._step_seconds)


def main(job_id: str) -> None:
    settings = load_settings()
    log = Path(os.environ["EASEL_TEST_STEP_LOG"])
    specs = {spec.id: spec for spec in settings.engines}
    worker = build_worker(
        settings,
        "cpu",
        notify=lambda job_id, *, still_open=False: None,
        engine_source=SlowEngines(specs, log),
    )
    worker.leases.start()
    print("ready", flush=True)
    worker.runner.run([job_id])
    worker.leases.stop()
    worker.close()


if __name__ == "__main__":
    main(sys.argv[1])
