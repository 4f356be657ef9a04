"""`easel worker` on a slow engine: `python -m tests.integration.scaleout.slow_worker`.

The same process `easel worker` runs (`wiring.build_celery_worker`: the celery
worker, its consumer, leases and pub/sub listener), with every engine replaced
by `SlowEngine`, which sleeps `STEP_SECONDS` per step and logs each step it
completes to `$EASEL_TEST_STEP_LOG`: a job takes as long as its steps ask, and
the test can tell how far it got after a cancel. Settings come from `EASEL_*`
variables.
"""

from __future__ import annotations

import os
from pathlib import Path

from easel.config import load_settings
from easel.wiring import build_celery_worker
from tests.integration.jobs.worker_main import SlowEngines

# 150 steps (v1's most) last 15 s: time enough to cancel a running job on a busy machine
STEP_SECONDS = 0.1


def main() -> int:
    settings = load_settings()
    specs = {spec.id: spec for spec in settings.engines}
    engines = SlowEngines(specs, Path(os.environ["EASEL_TEST_STEP_LOG"]), STEP_SECONDS)
    worker = build_celery_worker(settings, engine_source=engines)
    return int(worker.run(loglevel="INFO"))  # logs " ready." once it consumes


if __name__ == "__main__":
    raise SystemExit(main())
