"""What easel's HTTP and job layers add to one generation.

Compares, for the sandbox engine at 512x512 with a fixed seed:

- direct: the engine from `EngineRegistry(...).get(id).generate([GenerationRequest])`
  in this process (the same backend code the server runs, minus HTTP and jobs);
- HTTP: the same generation through a real `easel serve` subprocess on a free
  127.0.0.1 port, with httpx and `Accept: image/png`; `--executor local` (the
  default: generation in a worker process) or `--executor inprocess` (a thread
  of the API process), to compare single process and split.

Runs are interleaved (direct, HTTP, direct, ...) after one warm-up of each, so
background load hits both alike. Both sides use the same torch thread count.
Writes bench/overhead.md.

    .venv/bin/python bench/overhead.py [--runs 5] [--steps 20] [--executor inprocess]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import harness as h
import httpx


@dataclass
class HttpRun:
    seconds: float
    cpu: float  # CPU seconds the server process used for the request
    sent: float  # client wall clock (time.time) when the request was sent
    received: float
    job: dict[str, Any]
    png: bytes


@dataclass
class Results:
    direct: list[float] = field(default_factory=list)
    direct_cpu: list[float] = field(default_factory=list)
    http: list[HttpRun] = field(default_factory=list)
    png_encode: list[float] = field(default_factory=list)
    server_hwm_mib: float = 0.0
    direct_maxrss_mib: float = 0.0
    same_pixels: int | None = None
    load_after: str = ""
    other_cpu: str = ""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9, help="timed runs of each (after warm-up)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--models-dir", type=Path, default=h.DEFAULT_MODELS_DIR)
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=120,
        help="seconds to wait at most for other processes to leave the CPUs idle first",
    )
    parser.add_argument(
        "--executor",
        choices=["local", "inprocess"],
        default="local",
        help="the server's jobs.executor: local worker process (split) or API-process thread",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="default: bench/overhead.md (local), bench/overhead-inprocess.md (inprocess)",
    )
    args = parser.parse_args()
    if args.output is None:
        name = "overhead.md" if args.executor == "local" else "overhead-inprocess.md"
        args.output = h.BENCH_DIR / name
    return args


# --------------------------------------------------------------------------- the two paths


def direct_engine(models_dir: Path) -> Any:
    """The sandbox engine exactly as the server builds it (same models directory layout)."""
    from easel.engines.catalog import default_engines
    from easel.engines.registry import EngineRegistry

    # create_app passes settings.models_dir as the registry's data_dir.
    registry = EngineRegistry(default_engines(), data_dir=models_dir, device="cpu")
    return registry.get(h.ENGINE_ID)


def direct_request(args: argparse.Namespace) -> Any:
    from easel.engines.base import GenerationRequest, WeightedPrompt

    # The same parameters the HTTP body carries (cfg 7, default sampler, one sample).
    return GenerationRequest(
        kind="text-to-image",
        prompts=[WeightedPrompt(h.PROMPT, 1.0)],
        width=args.size,
        height=args.size,
        seeds=[args.seed],
        steps=args.steps,
        cfg_scale=7.0,
    )


def run_direct(engine: Any, request: Any) -> tuple[float, float, Any]:
    """Wall seconds, CPU seconds (all threads of this process) and the image."""
    cpu, start = h.process_cpu_seconds(os.getpid()), time.perf_counter()
    result = engine.generate([request])
    seconds = time.perf_counter() - start
    return seconds, h.process_cpu_seconds(os.getpid()) - cpu, result[0].images[0]


def run_http(client: httpx.Client, server: h.Server, key: str, args: argparse.Namespace) -> HttpRun:
    body = h.text_to_image_body(args.seed, args.steps, size=args.size)
    url = f"{server.url}/v1/generation/{h.ENGINE_ID}/text-to-image"
    cpu, sent, start = h.tree_cpu_seconds(server.pid), time.time(), time.perf_counter()
    response = client.post(url, json=body, headers=h.png_headers(key))
    seconds = time.perf_counter() - start
    received = time.time()
    cpu = h.tree_cpu_seconds(server.pid) - cpu
    h.check_png(response)
    job_id = response.headers["X-Generation-Id"]
    job = client.get(f"{server.url}/v1/generations/{job_id}", headers=h.png_headers(key)).json()
    return HttpRun(seconds, cpu, sent, received, job, response.content)


def png_encode_seconds(image: Any, args: argparse.Namespace) -> float:
    """What the server's worker spends turning the image into the PNG it stores."""
    from easel.generation.outputs import encode_png

    start = time.perf_counter()
    encode_png(image.image, {"engine_id": h.ENGINE_ID, "steps": args.steps})
    return time.perf_counter() - start


# --------------------------------------------------------------------------- the benchmark


def measure(args: argparse.Namespace, work_dir: Path) -> Results:
    h.pin_torch_threads()
    engine = direct_engine(args.models_dir)
    request = direct_request(args)
    results = Results()
    env = h.easel_env(args.models_dir, EASEL_JOBS__EXECUTOR=args.executor)
    with (
        h.serve_easel(work_dir / "data", env, work_dir) as server,
        httpx.Client(timeout=httpx.Timeout(600, connect=10)) as client,
    ):
        key = server.api_key()
        for _ in range(args.warmup):  # builds/loads the model on both sides
            run_direct(engine, request)
            run_http(client, server, key, args)
        for i in range(args.runs):
            seconds, cpu, image = run_direct(engine, request)
            results.direct.append(seconds)
            results.direct_cpu.append(cpu)
            results.png_encode.append(png_encode_seconds(image, args))
            results.http.append(run_http(client, server, key, args))
            print(f"run {i + 1}: direct {seconds:.3f} s, http {results.http[-1].seconds:.3f} s")
        results.same_pixels = h.max_abs_diff(
            h.pixels(results.http[0].png), h.pixels(_png_of(image))
        )
        results.server_hwm_mib = server.peak_rss_mib(with_children=True)
    # ru_maxrss is in KiB on Linux: this process did the direct calls (plus a small httpx client).
    results.direct_maxrss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results.load_after = h.load_average()
    return results


def _png_of(image: Any) -> bytes:
    from easel.generation.outputs import encode_png

    return encode_png(image.image, {})


# --------------------------------------------------------------------------- the report


def _when(value: str) -> float:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def breakdown(runs: list[HttpRun]) -> dict[str, float]:
    """Median ms of each segment of an HTTP request, from the job's own timestamps."""
    segments: dict[str, list[float]] = {"before": [], "run": [], "after": []}
    for run in runs:
        started, finished = _when(run.job["started_at"]), _when(run.job["finished_at"])
        segments["before"].append(started - run.sent)
        segments["run"].append(finished - started)
        segments["after"].append(run.received - finished)
    return {name: h.median(values) * 1000 for name, values in segments.items()}


def report(args: argparse.Namespace, facts: dict[str, str], results: Results) -> str:
    direct = h.median(results.direct)
    http = h.median([r.seconds for r in results.http])
    parts = breakdown(results.http)
    png = h.median(results.png_encode) * 1000
    runs_table = h.table(
        ["path", "median (s)", "runs (s)"],
        [
            ["direct engine call", f"{direct:.3f}", _list(results.direct)],
            ["HTTP `easel serve`", f"{http:.3f}", _list([r.seconds for r in results.http])],
        ],
    )
    paired = [(r.seconds - d) * 1000 for r, d in zip(results.http, results.direct, strict=True)]
    summary = h.table(
        ["HTTP / direct", "absolute overhead (ms)", "paired HTTP - direct (ms): median [min, max]"],
        [
            [
                f"{http / direct:.3f}",
                f"{(http - direct) * 1000:.0f}",
                f"{h.median(paired):.0f} [{min(paired):.0f}, {max(paired):.0f}]",
            ]
        ],
    )
    segments = h.table(
        ["segment of an HTTP request", "median (ms)"],
        [
            [
                "client send -> job started (HTTP, auth, validation, credits, DB, queue)",
                f"{parts['before']:.0f}",
            ],
            [
                "job started -> job finished (engine + PNG encode + artifact + DB)",
                f"{parts['run']:.0f}",
            ],
            ["inside it: the same engine call, direct (median)", f"{direct * 1000:.0f}"],
            ["inside it: PNG encode (measured in-process, median)", f"{png:.0f}"],
            [
                "job finished -> client has the PNG (wake-up, read artifact, respond)",
                f"{parts['after']:.0f}",
            ],
        ],
    )
    memory = h.table(
        ["process", "peak RSS (MiB)", "how"],
        [
            [
                "`easel serve` (HTTP path), with its child processes if any",
                f"{results.server_hwm_mib:.0f}",
                "VmHWM in /proc/<pid>/status after the runs, summed over the server's processes",
            ],
            [
                "direct-call process",
                f"{results.direct_maxrss_mib:.0f}",
                "resource.getrusage(RUSAGE_SELF).ru_maxrss (includes this script's httpx client)",
            ],
        ],
    )
    return "\n\n".join(
        [
            f"# easel overhead: direct engine call vs HTTP API (executor `{args.executor}`)",
            "Generated by `bench/overhead.py`; numbers are from the run described below.",
            _summary(args, results, direct, http, parts, png),
            "## Machine\n\n"
            + h.facts_table(
                {
                    **facts,
                    "load average at end": results.load_after,
                    "other processes during the run": results.other_cpu,
                }
            ),
            _method(args),
            "## Wall time\n\n" + runs_table + "\n\n" + summary + "\n\n" + _noise_note(),
            "## CPU time per generation\n\n" + cpu_table(results) + "\n\n" + _cpu_note(),
            "## Where the HTTP time goes\n\n" + segments + "\n\n" + _segment_note(),
            "## Peak memory\n\n" + memory + "\n\n" + _memory_note(),
            "## Same output\n\n"
            f"Max absolute pixel difference between the HTTP PNG and the direct call's image: "
            f"**{results.same_pixels}** (0 = identical; same seed, same thread count).",
        ]
    )


def _summary(
    args: argparse.Namespace,
    results: Results,
    direct: float,
    http: float,
    parts: dict[str, float],
    png_ms: float,
) -> str:
    paired = [(r.seconds - d) * 1000 for r, d in zip(results.http, results.direct, strict=True)]
    outside = parts["before"] + parts["after"]
    return f"""## Summary

- Wall time, {args.size}x{args.size}, {args.steps} steps, median of {args.runs}: HTTP \
{http:.3f} s vs direct {direct:.3f} s, ratio **{http / direct:.3f}**, difference \
**{(http - direct) * 1000:.0f} ms**. Paired run-to-run differences span \
{min(paired):.0f} to {max(paired):.0f} ms{_resolution(paired, http - direct)}.
- The parts that are certainly overhead: {outside:.0f} ms outside the worker (HTTP, auth, \
validation, credits, database, queue, wake-up, response) plus {png_ms:.0f} ms of PNG encoding \
in the worker: about {outside + png_ms:.0f} ms, {100 * (outside + png_ms) / 1000 / direct:.1f}% \
of the generation.
- CPU per generation: server {h.median([r.cpu for r in results.http]):.2f} s vs direct \
{h.median(results.direct_cpu):.2f} s.
- Peak RSS: server {results.server_hwm_mib:.0f} MiB, direct-call process \
{results.direct_maxrss_mib:.0f} MiB."""


def _resolution(paired_ms: list[float], difference_s: float) -> str:
    if (max(paired_ms) - min(paired_ms)) / 2 > abs(difference_s) * 1000:
        return ": the noise is larger than the difference, so wall time alone cannot resolve it"
    return ""


def cpu_table(results: Results) -> str:
    direct = h.median(results.direct_cpu)
    server = h.median([r.cpu for r in results.http])
    return h.table(
        ["process", "median CPU s per generation", "runs (CPU s)"],
        [
            ["direct-call process", f"{direct:.2f}", _list(results.direct_cpu, 2)],
            [
                "`easel serve` (with its child processes if any)",
                f"{server:.2f}",
                _list([r.cpu for r in results.http], 2),
            ],
            ["difference", f"{server - direct:+.2f} ({100 * (server / direct - 1):+.1f}%)", ""],
        ],
    )


def _cpu_note() -> str:
    return (
        "User + system CPU of all threads (/proc/<pid>/stat, 10 ms ticks): the direct side "
        "around `generate()` only, the server side (its process and its children: the "
        "worker process and multiprocessing's resource tracker) around the whole HTTP "
        "request. Waiting for "
        "a busy CPU does not count as CPU time; if CPU time still varies like wall time (at "
        "about 2 cores x wall), the spread is in the speed of the computation itself."
    )


def _list(values: list[float], digits: int = 3) -> str:
    return ", ".join(f"{v:.{digits}f}" for v in values)


def _method(args: argparse.Namespace) -> str:
    return f"""## Method

- Engine `{h.ENGINE_ID}` (sandbox backend: the tiny diffusers SD model easel builds under
  `<models_dir>/sandbox/sd`), text-to-image {args.size}x{args.size}, {args.steps} steps,
  seed {args.seed}, cfg 7, default sampler (K_DPMPP_2M), one sample, prompt `{h.PROMPT}`.
- **Direct**: the engine object from
  `EngineRegistry(default_engines(), data_dir=models_dir).get("{h.ENGINE_ID}")`, timed around
  `engine.generate([GenerationRequest(...)])`; it returns a PIL image (no PNG encoding).
  Not the raw diffusers pipeline: this is exactly the backend code the server's worker runs.
- **HTTP**: `easel serve` subprocess on a free 127.0.0.1 port (SQLite in a temporary data dir,
  rate limit off, `jobs.executor = {args.executor}` ({_executor(args.executor)}),
  defaults otherwise: batching on), `POST
  /v1/generation/{h.ENGINE_ID}/text-to-image` with `Accept: image/png` from an httpx client,
  timed from send to the full PNG body received.
- Same torch thread count on both sides: `OMP_NUM_THREADS={h.TORCH_THREADS}` in the server's
  environment and `torch.set_num_threads({h.TORCH_THREADS})` in the direct-call process.
- {args.warmup} warm-up run of each (model load), then {args.runs} timed runs, interleaved
  (direct, HTTP, direct, ...); medians reported. One process is idle while the other works."""


def _executor(name: str) -> str:
    if name == "local":
        return "generation in one CPU worker process; the API process keeps the queue"
    return "generation in one worker thread of the API process"


def _noise_note() -> str:
    return (
        "Absolute overhead = median(HTTP) - median(direct). The paired column differences "
        "each HTTP run with the direct run just before it; its spread shows the run-to-run "
        "noise of the engine call itself, which is larger than the overhead. The segment "
        "table below measures the non-engine parts within each request."
    )


def _segment_note() -> str:
    return (
        "Segments come from the job's `started_at` / `finished_at` (from `GET "
        "/v1/generations/{id}`) against the client's clock on the same host, so they add up "
        "to the HTTP time up to rounding. The worker's part (`run`) also includes the "
        "progress writes to the database during the steps."
    )


def _memory_note() -> str:
    return (
        "Both processes hold the same tiny model; the server additionally imports FastAPI, "
        "SQLAlchemy, Alembic and uvicorn, and keeps request bodies and PNGs in memory."
    )


def main() -> None:
    args = parse_args()
    facts = h.machine_facts(h.wait_for_quiet(args.quiet_wait))
    meter = h.CpuMeter()
    with tempfile.TemporaryDirectory(prefix="easel-overhead-") as tmp:
        results = measure(args, Path(tmp))
    results.other_cpu = meter.summary()
    args.output.write_text(report(args, facts, results) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
