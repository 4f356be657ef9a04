"""Scaling with `easel worker`s: the celery executor with 1, 2 and 4 workers.

    python bench/scaling.py            # writes bench/scaling.md

Workers run a fixed-latency engine (a sleep per step, standing in for a GPU
that the worker's CPU only waits on), so what is measured is easel's own
dispatch path: HTTP, PostgreSQL, the Redis broker, the worker's pickup, the
result write and the pub/sub wake-up of the waiting request. Batching is off,
so a worker runs one job at a time and throughput can only grow with workers.

Three measures, as issue 12 asks:
1. throughput of 64 clients with 1, 2 and 4 workers (target: ≥ 3.6× from 1 to 4);
2. per-job dispatch overhead at p50: one client, one idle worker, the request's
   latency minus the engine's fixed time (target: ≤ 5 ms), and the same jobs through
   an API that runs the engine in its own process, so the report shows what the
   worker split adds to what any job costs;
3. p99 latency of a non-generating request (`GET /v1/engines/list`) with 4 idle
   workers and while they generate for 64 clients, in alternated windows (target:
   ≤ 2 ms more).

Everything listens on 127.0.0.1: a private redis-server on a free port, a
fresh PostgreSQL schema (EASEL_TEST_POSTGRES_URL or the local `test` db),
one `easel serve` and the workers (`python bench/scaling.py worker`).
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (  # noqa: E402
    BENCH_DIR,
    PYTHON,
    REPO_DIR,
    Server,
    free_port,
    load_average,
    percentile,
    serve,
    serve_easel,
    stop,
    table,
)

POSTGRES_URL = os.environ.get(
    "EASEL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ENGINE = "stable-diffusion-v1-6"
STEPS = 10
STEP_SECONDS = float(os.environ.get("SCALING_STEP_SECONDS", "0.02"))
CLIENTS = 64
JOBS = int(os.environ.get("SCALING_JOBS", "128"))
PROBES = 1000  # per window; p99 of 1000 is its 10th-slowest request (of 400, the 4th)
PROBE_ROUNDS = 5  # idle and busy windows, alternated


# --------------------------------------------------------------------------- the worker


class SleepEngine:
    """Sleeps `STEP_SECONDS` per step and returns a flat image: a GPU the CPU waits on."""

    def __init__(self, spec: object) -> None:
        self.spec = spec

    def generate(self, requests: Sequence[object], *, progress=None, cancel=None):  # type: ignore[no-untyped-def]
        from easel.engines.base import GeneratedImage, GenerationResult
        from easel.errors import Cancelled

        # Each step ends on its deadline, as a GPU's would: sleeping STEP_SECONDS per step
        # overshot ~0.15 ms a step here, 1.5 ms a job charged to easel's dispatch. What
        # the progress callback costs hides inside the next step, as it does behind a
        # GPU's queued kernels.
        started = time.monotonic()
        for step in range(1, STEPS + 1):
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled")
            time.sleep(max(0.0, started + step * STEP_SECONDS - time.monotonic()))
            if progress is not None:
                progress(step, STEPS)
        return [
            GenerationResult(
                [
                    GeneratedImage(Image.new("RGB", (r.width, r.height), (seed % 256, 0, 0)), seed)  # type: ignore[attr-defined]
                    for seed in r.seeds  # type: ignore[attr-defined]
                ]
            )
            for r in requests
        ]


class SleepEngines:
    def __init__(self, specs: dict[str, object]) -> None:
        self._specs = specs

    def get(self, engine_id: str) -> SleepEngine:
        return SleepEngine(self._specs[engine_id])


def worker_main() -> None:
    from easel.config import load_settings
    from easel.wiring import build_celery_worker

    settings = load_settings()
    specs = {spec.id: spec for spec in settings.engines}
    worker = build_celery_worker(settings, engine_source=SleepEngines(specs))  # type: ignore[arg-type]
    raise SystemExit(worker.run(loglevel="INFO"))  # bench waits for " ready."


def inprocess_api_main(port: int) -> None:
    """An easel API that runs the same engine in its own process (the in-process
    executor): the baseline that shows what the worker split adds to a job."""
    import uvicorn

    from easel.api.app import create_app
    from easel.config import load_settings

    settings = load_settings()
    specs = {spec.id: spec for spec in settings.engines}
    app = create_app(settings, engine_source=SleepEngines(specs))  # type: ignore[arg-type]
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


@contextmanager
def inprocess_api(env: dict[str, str], log_dir: Path) -> Iterator[Server]:
    port = free_port()
    argv = [PYTHON, str(Path(__file__).resolve()), "inprocess-api", str(port)]
    with serve(
        argv,
        port=port,
        log_path=log_dir / f"inprocess-{port}.log",
        env={**env, "EASEL_JOBS__EXECUTOR": "inprocess"},
    ) as api:
        yield api


# --------------------------------------------------------------------------- the bench


def start_workers(count: int, env: dict[str, str], log_dir: Path) -> list[subprocess.Popen[bytes]]:
    workers = []
    first = len(list(log_dir.glob("worker-*.log")))
    for index in range(first, first + count):
        log = (log_dir / f"worker-{index}.log").open("wb")
        workers.append(
            subprocess.Popen(
                [PYTHON, str(Path(__file__).resolve()), "worker"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **env, "EASEL_SERVER__LOG_LEVEL": "info"},
                cwd=REPO_DIR,
            )
        )
    deadline = time.monotonic() + 120
    for index, worker in enumerate(workers, start=first):
        path = log_dir / f"worker-{index}.log"
        while " ready." not in path.read_text(errors="replace"):
            if time.monotonic() > deadline or worker.poll() is not None:
                for worker in workers:
                    stop(worker)  # type: ignore[arg-type]
                raise RuntimeError(path.read_text(errors="replace"))
            time.sleep(0.1)
    return workers


def generate(client: httpx.Client, url: str, key: str, seed: int) -> float:
    started = time.perf_counter()
    response = client.post(
        f"{url}/v1/generation/{ENGINE}/text-to-image",
        json={
            "text_prompts": [{"text": "a lighthouse"}],
            "width": 320,
            "height": 320,
            "steps": STEPS,
            "seed": seed,
        },
        headers={"Authorization": f"Bearer {key}", "Accept": "image/png"},
        timeout=300,
    )
    if response.status_code != 200:
        raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
    return time.perf_counter() - started


def overheads(
    split_url: str, single_url: str, key: str, jobs: int = 40
) -> list[tuple[float, float]]:
    """Latency beyond the engine's fixed time (ms) of `jobs` sequential generations on
    each API, alternated, so that each pair is measured at the same moment of a
    machine whose speed drifts."""
    with httpx.Client() as client:

        def beyond_engine(url: str, seed: int) -> float:
            return (generate(client, url, key, seed) - STEPS * STEP_SECONDS) * 1000

        for url in (split_url, single_url):
            generate(client, url, key, 1)  # warm
        return [
            (beyond_engine(split_url, seed), beyond_engine(single_url, seed))
            for seed in range(2, jobs + 2)
        ]


def throughput(url: str, key: str) -> float:
    """Images per second for JOBS jobs from CLIENTS concurrent clients."""
    with httpx.Client() as client, ThreadPoolExecutor(CLIENTS) as pool:
        started = time.perf_counter()
        list(pool.map(lambda seed: generate(client, url, key, seed + 1), range(JOBS)))
        return JOBS / (time.perf_counter() - started)


@contextmanager
def generating(url: str, key: str) -> Iterator[None]:
    """CLIENTS clients generating back to back, from one second before the body runs
    (the queue fills) until it ends."""
    done = threading.Event()

    def client_loop(seed: int) -> None:
        with httpx.Client() as client:
            while not done.is_set():
                generate(client, url, key, seed)

    with ThreadPoolExecutor(CLIENTS) as pool:
        loops = [pool.submit(client_loop, seed) for seed in range(1, CLIENTS + 1)]
        time.sleep(1.0)
        try:
            yield
        finally:
            done.set()
            for loop in loops:
                loop.result()  # a failed generation fails the bench


def probe_p99(url: str, key: str) -> float:
    """p99 of sequential non-generating requests, sent from a process of their own: in
    the load generator's interpreter the probe would also wait for its 64 threads' GIL."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(_probe_p99, url, key).result()


def _probe_p99(url: str, key: str) -> float:
    with httpx.Client() as client:
        times = []
        for _ in range(PROBES):
            started = time.perf_counter()
            client.get(f"{url}/v1/engines/list", headers={"Authorization": f"Bearer {key}"})
            times.append(time.perf_counter() - started)
    return percentile(times, 99) * 1000


def cpu_seconds(pids: set[int]) -> dict[int, float]:
    """Each live process's CPU time so far (user + system), by pid."""
    seconds = {}
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        seconds[pid] = times.user + times.system
    return seconds


def role_pids(
    api_pid: int, workers: list[subprocess.Popen[bytes]], redis_url: str
) -> dict[str, set[int]]:
    """The processes a job's CPU is spent in, by role (PostgreSQL: every backend)."""
    redis_port = redis_url.rsplit(":", 1)[1].split("/")[0]
    by_name: dict[str, set[int]] = {"postgres": set(), "redis": set()}
    for process in psutil.process_iter(["name", "cmdline"]):
        name, cmdline = process.info["name"] or "", " ".join(process.info["cmdline"] or ())
        if name == "postgres":
            by_name["postgres"].add(process.pid)
        elif name.startswith("redis-server") and f":{redis_port}" in cmdline + name:
            by_name["redis"].add(process.pid)
    return {
        "API": {api_pid},
        "workers": {worker.pid for worker in workers},
        "PostgreSQL": by_name["postgres"],
        "Redis": by_name["redis"],
        "clients": {os.getpid()},
    }


@contextmanager
def cpu_per_job(
    api_pid: int, workers: list[subprocess.Popen[bytes]], redis_url: str, out: dict[str, float]
) -> Iterator[None]:
    """CPU milliseconds per job spent by each role while the block runs JOBS jobs
    (a backend that starts meanwhile counts from zero)."""
    out.clear()
    before = {
        role: cpu_seconds(pids) for role, pids in role_pids(api_pid, workers, redis_url).items()
    }
    yield
    for role, pids in role_pids(api_pid, workers, redis_url).items():
        after = cpu_seconds(pids | set(before[role]))
        spent = sum(after[pid] - before[role].get(pid, 0.0) for pid in after)
        out[role] = spent * 1000 / JOBS
    out["all"] = sum(out.values())  # the roles' sum: `out` held only them


@contextmanager
def celery_stack(root: Path) -> Iterator[tuple[dict[str, str], str]]:
    """A private redis-server and a fresh PostgreSQL schema for one run: yields the
    environment of its `easel serve` and `easel worker`s, and the database URL.
    Both are removed afterwards, whatever happens."""
    from sqlalchemy import create_engine, text

    from easel.db import migrate

    redis_port = free_port()
    redis_server = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(redis_port), "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        db_url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
        migrate.upgrade(db_url)
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        yield (
            {
                "EASEL_DATABASE__URL": db_url,
                "EASEL_JOBS__EXECUTOR": "celery",
                "EASEL_JOBS__BATCHING": "false",
                "EASEL_CELERY__BROKER_URL": redis_url,
                "EASEL_CELERY__REDIS_URL": redis_url,
                "EASEL_STORAGE__LOCAL_DIR": str(root / "artifacts"),
                "EASEL_RATE_LIMIT__ENABLED": "false",
                "EASEL_SERVER__BOOTSTRAP_CREDITS": "1000000",
                "EASEL_SERVER__LOG_LEVEL": "warning",
                "OMP_NUM_THREADS": "1",
            },
            db_url,
        )
    finally:
        redis_server.terminate()
        redis_server.wait()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def main() -> None:
    root = Path(os.environ.get("SCALING_DIR", f"/tmp/easel-scaling-{uuid.uuid4().hex[:6]}"))
    root.mkdir(parents=True, exist_ok=True)
    rows: list[list[str]] = []
    results: dict[str, float] = {}
    cpu: dict[str, float] = {}  # of the last (4-worker) throughput run
    load = load_average()
    with celery_stack(root) as (env, _), serve_easel(root / "api", env, root) as api:
        key = api.api_key()
        # dispatch overhead: one client, one idle worker; then the same engine in the
        # API's own process, on the same database
        workers = start_workers(1, env, root)
        with inprocess_api(env, root) as alone:
            pairs = overheads(api.url, alone.url, key)
        split, single = [p[0] for p in pairs], [p[1] for p in pairs]
        results["overhead_p50"] = percentile(split, 50)
        results["overhead_p90"] = percentile(split, 90)
        results["inprocess_p50"] = percentile(single, 50)
        results["inprocess_p90"] = percentile(single, 90)
        results["added_p50"] = percentile([a - b for a, b in pairs], 50)
        for count in (1, 2, 4):
            while len(workers) < count:
                workers += start_workers(1, env, root)
            with cpu_per_job(api.process.pid, workers, env["EASEL_CELERY__BROKER_URL"], cpu):
                results[f"tput_{count}"] = throughput(api.url, key)
            rows.append(
                [
                    str(count),
                    f"{results[f'tput_{count}']:.2f}",
                    f"{results[f'tput_{count}'] / results['tput_1']:.2f}×",
                    f"{count / (STEPS * STEP_SECONDS):.1f}",
                ]
            )
        # the API idle (4 idle workers) and busy, alternated: this machine's tail moves
        # between windows minutes apart, so one window of each would compare two moments
        probes: list[tuple[float, float]] = []
        for _ in range(PROBE_ROUNDS):
            idle = probe_p99(api.url, key)
            with generating(api.url, key):
                probes.append((idle, probe_p99(api.url, key)))
        for worker in workers:
            stop(worker)  # type: ignore[arg-type]
    job_ms = STEPS * STEP_SECONDS * 1000
    probe_rows = [
        [str(n), f"{idle:.1f}", f"{busy:.1f}", f"{busy - idle:+.1f}"]
        for n, (idle, busy) in enumerate(probes, start=1)
    ]
    rise = percentile([busy - idle for idle, busy in probes], 50)
    p50, p90 = results["overhead_p50"], results["overhead_p90"]
    single_p50, single_p90 = results["inprocess_p50"], results["inprocess_p90"]
    added = results["added_p50"]
    report = f"""# Scaling with `easel worker` (celery executor)

`python bench/scaling.py`: one `easel serve` (celery executor, PostgreSQL, a private
Redis broker), 1, 2 and 4 `easel worker` processes running a fixed-latency engine
({STEPS} steps × {STEP_SECONDS * 1000:.0f} ms of sleep = {job_ms:.0f} ms a job),
batching off, {CLIENTS} clients, {JOBS} jobs per run. Everything on one machine:
os.cpu_count() = {os.cpu_count()}, load average at start {load}.

## Throughput

{table(["workers", "images/s", "vs 1 worker", "engine-bound ceiling (images/s)"], rows)}

Target: ≥ 3.6× from 1 to 4 workers. Measured: {results["tput_4"] / results["tput_1"]:.2f}×.

CPU per job with 4 workers (ms; psutil, user + system, over the {JOBS} jobs; PostgreSQL
is all its processes, clients is this bench's process):

{table(list(cpu), [[f"{ms:.1f}" for ms in cpu.values()]])}

## Per-job dispatch overhead

One client, one idle worker, 40 jobs: latency minus the engine's {job_ms:.0f} ms.
p50 **{p50:.1f} ms**, p90 {p90:.1f} ms (target: ≤ 5 ms at p50).

Alternated with those, the same 40 jobs through an API that runs the engine in its
own process (the in-process executor, same database, no broker, no worker): p50
{single_p50:.1f} ms, p90 {single_p90:.1f} ms. The worker split itself (the broker, a
second process's lease and settle, the pub/sub wake-up) adds **{added:.1f} ms**
(median of the 40 pairs' differences); the rest is what any job costs (HTTP, its row and credits,
encoding and storing the PNG, reading the result).

## The API while workers generate

p99 of `GET /v1/engines/list` ({PROBES} sequential requests, from a process of its own)
with the 4 workers idle, then while they generate for {CLIENTS} clients; {PROBE_ROUNDS} rounds:

{table(["round", "idle p99 (ms)", "busy p99 (ms)", "busy − idle (ms)"], probe_rows)}

Median rise **{rise:+.1f} ms** (target: ≤ 2 ms more).
"""
    (BENCH_DIR / "scaling.md").write_text(report)
    print(report)


if __name__ == "__main__":
    if sys.argv[1:] == ["worker"]:
        worker_main()
    elif sys.argv[1:2] == ["inprocess-api"]:
        inprocess_api_main(int(sys.argv[2]))
    else:
        main()
