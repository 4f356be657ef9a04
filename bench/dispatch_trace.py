"""Where a celery job's dispatch time goes: one client, one idle `easel worker`.

    python bench/dispatch_trace.py [--jobs 40]     # writes bench/dispatch_trace.md

The same setup as `scaling.py`'s dispatch measure (celery executor, PostgreSQL,
a private Redis, the sleep-per-step engine), and each request's latency is cut
at the job row's own timestamps, all on this machine's clock:

- request → `created_at`: HTTP, auth, validation, the job insert;
- `created_at` → `started_at`: the publish, the broker, the worker's pickup and
  its lease (`mark_running`);
- `started_at` → `finished_at`, minus the engine's fixed time: rebuilding the
  job, per-step cancel checks and progress, encoding and storing the output,
  and settling (success and charge);
- `finished_at` → response: the pub/sub wake-up of the waiting request, reading
  the result and sending it.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from datetime import UTC
from pathlib import Path

import httpx
from harness import BENCH_DIR, load_average, percentile, serve_easel, stop, table
from scaling import ENGINE, STEP_SECONDS, STEPS, celery_stack, start_workers


def request(client: httpx.Client, url: str, key: str, seed: int) -> tuple[float, float, str]:
    """(wall start, wall end, job id) of one generation."""
    started = time.time()
    response = client.post(
        f"{url}/v1/generation/{ENGINE}/text-to-image",
        json={"text_prompts": [{"text": "a lighthouse"}], "width": 320, "height": 320,
              "steps": STEPS, "seed": seed},
        headers={"Authorization": f"Bearer {key}", "Accept": "image/png"},
        timeout=300,
    )  # fmt: skip
    ended = time.time()
    if response.status_code != 200:
        raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
    return started, ended, response.headers["x-generation-id"]


def main() -> None:
    from sqlalchemy import create_engine, text

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "dispatch_trace.md")
    args = parser.parse_args()

    root = Path(f"/tmp/easel-dispatch-{uuid.uuid4().hex[:6]}")
    root.mkdir(parents=True)
    load = load_average()
    with celery_stack(root) as (env, db_url):
        with serve_easel(root / "api", env, root) as api:
            key = api.api_key()
            workers = start_workers(1, env, root)
            try:
                with httpx.Client() as client:
                    request(client, api.url, key, 1)  # warm both sides
                    samples = [request(client, api.url, key, s) for s in range(2, args.jobs + 2)]
            finally:
                for worker in workers:
                    stop(worker)  # type: ignore[arg-type]
        engine = create_engine(db_url)
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT id, created_at, started_at, finished_at FROM jobs")
            ).all()
        engine.dispose()

    stamps = {row.id: row for row in rows}
    engine_s = STEPS * STEP_SECONDS
    phases: dict[str, list[float]] = {
        "request → job stored": [],
        "stored → running on the worker": [],
        "worker, beyond the engine's sleep": [],
        "finished → response received": [],
        "total, beyond the engine's sleep": [],
    }
    for started, ended, job_id in samples:
        row = stamps[job_id]
        created, running, finished = (
            t.replace(tzinfo=UTC).timestamp()
            for t in (row.created_at, row.started_at, row.finished_at)
        )
        for name, seconds in zip(
            phases,
            (
                created - started,
                running - created,
                finished - running - engine_s,
                ended - finished,
                ended - started - engine_s,
            ),
            strict=True,
        ):
            phases[name].append(seconds * 1000)
    body = [
        [name, f"{percentile(v, 50):.1f}", f"{percentile(v, 90):.1f}"] for name, v in phases.items()
    ]
    step_ms = STEP_SECONDS * 1000
    report = f"""# Where a celery job's dispatch time goes

`python bench/dispatch_trace.py` (method in its docstring): one client, one idle
`easel worker`, {args.jobs} sequential jobs of {STEPS} steps × {step_ms:.0f} ms (each ending on
its deadline), each cut at its job row's `created_at`, `started_at` and `finished_at`.
os.cpu_count() = {os.cpu_count()}, load average at start {load}.

{table(["phase", "p50 ms", "p90 ms"], body)}
"""
    args.out.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
