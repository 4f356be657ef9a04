"""GPU benchmark: real-size SD 1.5 and SDXL, plain diffusers vs easel's engine vs easel over HTTP.

For each architecture (random weights, real sizes; see gpu_models.py) it
measures, in one run:

- plain diffusers (`AutoPipelineForText2Image`, float16, no fast path, the
  same sampler as easel's default) at batch 1/4/8: s per call, it/s, s/image;
- easel's engine call (`DiffusersEngine.generate`, easel's real diffusers
  backend with the fast path as configured) at the same batches, its load
  (with the compile warm-up) and its first call;
- easel over HTTP: a real `easel serve` on 127.0.0.1 with one engine on the
  saved model: time from the process start to the first image, 1 client
  (vs the engine call), N concurrent clients with batching (vs a direct
  batch-of-8 loop);
- peak GPU memory (the direct process; the server's from nvidia-smi).

It writes bench/gpu.md (machine, versions, figures, ratios against the
issue's targets) and, with --json, the figures as JSON.

    python bench/gpu.py                 # on a CUDA machine (~10 min on an H200)
    python bench/gpu.py --archs sd15 --batches 1,8
    python bench/gpu.py --tiny          # the same code on CPU with the tiny models (< 2 min)
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gpu_models as gm
import harness as h
import httpx

PROMPT = h.PROMPT
CFG = 7.0


@dataclass(frozen=True)
class Target:
    key: str  # where the figure sits in the results
    label: str
    goal: float
    higher_is_better: bool
    unit: str
    before: str  # what issue 13 measured on an H200 before the fast path


# Issue 13's targets on an H100/H200-class GPU.
TARGETS = (
    Target(
        "sd15.engine.batches.1.its",
        "SD 1.5 512², batch 1, easel engine",
        95,
        True,
        "it/s",
        "34 it/s (diffusers, fp16, 50 steps)",
    ),
    Target(
        "sdxl.engine.batches.1.its",
        "SDXL 1024², batch 1 (CFG), easel",
        19,
        True,
        "it/s",
        "8.4 it/s (UNet step)",
    ),
    Target(
        "sd15.http.single_ratio",
        "SD 1.5 over HTTP, 1 client / engine call",
        1.02,
        False,
        "x",
        "1.45 x (2.12 s vs 1.46 s)",
    ),
    Target(
        "sd15.http.load_ratio",
        "SD 1.5, 16 clients / batch-of-8 loop",
        0.90,
        True,
        "x",
        "0.51 x (2.25 vs 4.42 images/s)",
    ),
    Target(
        "sd15.http.first_image_s",
        "SD 1.5, first image after start",
        5,
        False,
        "s",
        "22 s",
    ),
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny models on CPU (a smoke run)")
    parser.add_argument("--archs", default="sd15,sdxl", help="comma-separated: sd15, sdxl")
    parser.add_argument("--steps", type=int, default=None, help="default 30 (tiny: 10)")
    parser.add_argument("--batches", default=None, help="default 1,4,8 (tiny: 1,2)")
    parser.add_argument("--runs", type=int, default=None, help="timed runs; default 3 (tiny: 1)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent HTTP clients")
    parser.add_argument("--per-client", type=int, default=None, help="default 2 (tiny: 1)")
    parser.add_argument("--device", default=None, help="default cuda (tiny: cpu)")
    parser.add_argument(
        "--compile",
        default=None,
        help="[engine.fast] compile for easel (default: the setting's own default)",
    )
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--output", type=Path, default=h.BENCH_DIR / "gpu.md")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--skip-http", action="store_true", help="no `easel serve` measurements")
    args = parser.parse_args()
    tiny = args.tiny
    args.steps = args.steps or (10 if tiny else 30)  # the API's least is 10
    args.batches = [int(b) for b in (args.batches or ("1,2" if tiny else "1,4,8")).split(",")]
    args.runs = args.runs or (1 if tiny else 3)
    args.per_client = args.per_client or (1 if tiny else 2)
    args.device = args.device or ("cpu" if tiny else "cuda")
    args.archs = [gm.ARCHS[name] for name in args.archs.split(",")]
    default_models = Path(tempfile.gettempdir()) / ("easel-bench-models" if tiny else "easel-gpu")
    args.models_dir = args.models_dir or default_models
    return args


# --------------------------------------------------------------------------- helpers


def cuda(args: argparse.Namespace) -> bool:
    return bool(args.device.startswith("cuda"))


def sync(args: argparse.Namespace) -> None:
    if cuda(args):
        import torch

        torch.cuda.synchronize()


def reset_peak(args: argparse.Namespace) -> None:
    if cuda(args):
        import torch

        torch.cuda.reset_peak_memory_stats()


def peak_gib(args: argparse.Namespace) -> float | None:
    if not cuda(args):
        return None
    import torch

    return float(torch.cuda.max_memory_allocated()) / 1024**3


def free_memory() -> None:
    from easel.engines.backends._common import free_accelerator_memory

    gc.collect()
    free_accelerator_memory()


def timed(args: argparse.Namespace, call: Callable[[], object]) -> float:
    sync(args)
    start = time.perf_counter()
    call()
    sync(args)
    return time.perf_counter() - start


def batch_figures(seconds: list[float], batch: int, steps: int) -> dict[str, float]:
    """s per call (median), it/s (steps per call second) and s per image."""
    median = h.median(seconds)
    return {"seconds": median, "its": steps / median, "s_per_image": median / batch}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def size_of(arch: gm.Arch, args: argparse.Namespace) -> tuple[str, int]:
    """(engine family, image side) of `arch` in this run."""
    return gm.TINY_SIZES[arch.name] if args.tiny else (arch.family, arch.size)


def threads(args: argparse.Namespace) -> int:
    """torch threads of every process: one for --tiny (two threads on a busy 2-core machine
    wait on each other: 5x slower, measured), else harness's count."""
    return 1 if args.tiny else h.TORCH_THREADS


def weights_dtype(args: argparse.Namespace) -> str:
    return "float16" if cuda(args) else "float32"


# --------------------------------------------------------------------------- direct diffusers


def measure_diffusers(path: Path, arch: gm.Arch, args: argparse.Namespace) -> dict[str, Any]:
    """Plain diffusers, float16, no fast path; the sampler easel uses by default."""
    import diffusers
    import torch

    from easel.engines.backends._common import torch_dtype
    from easel.engines.schedulers import scheduler_for

    _, side = size_of(arch, args)
    dtype = torch_dtype(weights_dtype(args))
    pipe = diffusers.AutoPipelineForText2Image.from_pretrained(str(path), dtype=dtype)
    pipe.to(args.device)
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = scheduler_for(None, pipe.scheduler)
    reset_peak(args)

    def call(batch: int) -> Callable[[], object]:
        generators = [torch.Generator("cpu").manual_seed(seed) for seed in range(batch)]
        return lambda: pipe(
            [PROMPT] * batch,
            num_inference_steps=args.steps,
            guidance_scale=CFG,
            width=side,
            height=side,
            generator=generators,
        )

    batches = {}
    for batch in args.batches:
        timed(args, call(batch))  # warm-up
        seconds = [timed(args, call(batch)) for _ in range(args.runs)]
        batches[str(batch)] = batch_figures(seconds, batch, args.steps)
        log(f"{arch.name} diffusers batch {batch}: {batches[str(batch)]['seconds']:.3f} s")
    return {"batches": batches, "peak_gib": peak_gib(args)}


# --------------------------------------------------------------------------- easel's engine


def fast_settings(args: argparse.Namespace, side: int, cache: Path) -> Any:
    from easel.engines.fastpath import FastPathSettings

    fields: dict[str, Any] = {
        "warm_sizes": [f"{side}x{side}"],
        "warm_batches": args.batches,
        "compile_cache_dir": cache,
    }
    if args.compile:
        fields["compile"] = args.compile
    return FastPathSettings(**fields)


def engine_spec(arch: gm.Arch, path: Path, family: str) -> Any:
    from easel.engines.base import EngineSpec

    return EngineSpec(
        id=f"bench-{arch.name}",
        name=f"{arch.label} (random weights)",
        family=family,  # type: ignore[arg-type]
        backend="diffusers",
        model=str(path),
    )


def request(side: int, batch: int, steps: int) -> Any:
    from easel.engines.base import GenerationRequest, WeightedPrompt

    return GenerationRequest(
        kind="text-to-image",
        prompts=[WeightedPrompt(PROMPT, 1.0)],
        width=side,
        height=side,
        seeds=list(range(batch)),
        steps=steps,
        cfg_scale=CFG,
    )


def measure_engine(
    path: Path, arch: gm.Arch, args: argparse.Namespace, cache: Path
) -> dict[str, Any]:
    """easel's diffusers backend, as the server's worker runs it (fast path as configured)."""
    from easel.engines.backends.diffusers import DiffusersEngine

    family, side = size_of(arch, args)
    engine = DiffusersEngine(
        engine_spec(arch, path, family),
        device=args.device,
        dtype=weights_dtype(args),
        fast=fast_settings(args, side, cache),
    )
    reset_peak(args)
    load = timed(args, engine.load)  # includes the compile warm-up of every bucket
    first = timed(args, lambda: engine.generate([request(side, 1, args.steps)]))
    log(f"{arch.name} engine: load {load:.1f} s, first call {first:.2f} s")
    batches = {}
    for batch in args.batches:
        call = request(side, batch, args.steps)
        timed(args, lambda call=call: engine.generate([call]))  # warm-up
        seconds = [timed(args, lambda call=call: engine.generate([call])) for _ in range(args.runs)]
        batches[str(batch)] = batch_figures(seconds, batch, args.steps)
        log(f"{arch.name} engine batch {batch}: {batches[str(batch)]['seconds']:.3f} s")
    figures = {
        "load_s": load,
        "first_call_s": first,
        "batches": batches,
        "plan": engine.plan.summary(),
        "peak_gib": peak_gib(args),
    }
    engine.unload()
    free_memory()
    return figures


# --------------------------------------------------------------------------- easel over HTTP


def server_env(models: dict[str, Path], args: argparse.Namespace, cache: Path) -> dict[str, str]:
    """One `easel serve` with an engine per architecture, batching up to the largest batch."""
    specs = []
    for arch in args.archs:
        family, _ = size_of(arch, args)
        specs.append(engine_spec(arch, models[arch.name], family).model_dump(exclude_defaults=True))
    most = max(args.batches)
    env = h.easel_env(
        args.models_dir,
        EASEL_ENGINES=json.dumps(specs),
        EASEL_ENGINE__DEVICE=args.device,
        # each engine at its own size (the setting is shared by every engine)
        EASEL_ENGINE__FAST__WARM_SIZES='["native"]',
        EASEL_ENGINE__FAST__WARM_BATCHES=json.dumps(sorted({1, most})),
        EASEL_ENGINE__FAST__COMPILE_CACHE_DIR=str(cache),
        EASEL_JOBS__BATCHING="true",
        EASEL_JOBS__MAX_BATCH_SIZE=str(most),
        EASEL_JOBS__MAX_RUNNING_PER_ORG=str(args.clients),
        EASEL_JOBS__MAX_QUEUED_PER_ORG="10000",
        **h.thread_env(threads(args)),
    )
    if args.compile:
        env["EASEL_ENGINE__FAST__COMPILE"] = args.compile
    return env


def route(arch: gm.Arch) -> str:
    return f"/v1/generation/bench-{arch.name}/text-to-image"


def post(client: httpx.Client, url: str, key: str, side: int, seed: int, steps: int) -> float:
    body = h.text_to_image_body(seed, steps, size=side)
    start = time.perf_counter()
    response = client.post(url, json=body, headers=h.png_headers(key))
    h.check_png(response)
    return time.perf_counter() - start


async def load_phase(url: str, key: str, side: int, args: argparse.Namespace) -> tuple[float, int]:
    """`args.clients` closed-loop clients, `args.per_client` requests each: (wall s, images)."""
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    async with httpx.AsyncClient(timeout=httpx.Timeout(1800, connect=10), limits=limits) as client:

        async def one_client(index: int) -> int:
            for j in range(args.per_client):
                body = h.text_to_image_body(1000 + 100 * index + j, args.steps, size=side)
                response = await client.post(url, json=body, headers=h.png_headers(key))
                h.check_png(response)
            return args.per_client

        start = time.perf_counter()
        done = await asyncio.gather(*(one_client(i) for i in range(args.clients)))
        return time.perf_counter() - start, sum(done)


def measure_http(
    models: dict[str, Path], args: argparse.Namespace, cache: Path, work_dir: Path
) -> dict[str, dict[str, Any]]:
    """Every architecture through one `easel serve`, in order; figures per architecture.

    The first architecture's first image is timed from the server process's
    start (startup, worker process, model load, compile warm-up, generation);
    a later one's from its first request (its engine loads on demand).
    """
    figures: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    with (
        h.serve_easel(work_dir / "data", server_env(models, args, cache), work_dir) as server,
        httpx.Client(timeout=httpx.Timeout(1800, connect=10)) as client,
    ):
        key = server.api_key()
        for index, arch in enumerate(args.archs):
            _, side = size_of(arch, args)
            url = server.url + route(arch)
            first = post(client, url, key, side, 1, args.steps)
            first_image = time.perf_counter() - started if index == 0 else first
            log(f"{arch.name} http: first image {first_image:.1f} s")
            post(client, url, key, side, 2, args.steps)  # warm-up
            single = [post(client, url, key, side, 3 + i, args.steps) for i in range(args.runs)]
            log(f"{arch.name} http 1 client: {h.median(single):.3f} s")
            if not args.tiny:  # compiles the batch sizes this load meets (cached afterwards)
                asyncio.run(load_phase(url, key, side, args))
            wall, images = asyncio.run(load_phase(url, key, side, args))
            log(f"{arch.name} http {args.clients} clients: {images / wall:.2f} images/s")
            figures[arch.name] = {
                "first_image_s": first_image,
                "first_image_from": "server start" if index == 0 else "first request",
                "single_s": h.median(single),
                "clients": args.clients,
                "images_per_s": images / wall,
            }
        gpu, rss = server_gpu_gib(server), server.peak_rss_mib(with_children=True)
    for arch_figures in figures.values():
        arch_figures.update(server_gpu_gib=gpu, server_rss_mib=rss)
    return figures


def with_ratios(http: dict[str, Any], engine: dict[str, Any], args: argparse.Namespace) -> None:
    """HTTP against the engine call: 1 client vs batch 1, N clients vs the largest batch."""
    most = max(args.batches)
    direct_rate = most / engine[str(most)]["seconds"]
    http["single_ratio"] = http["single_s"] / engine[str(min(args.batches))]["seconds"]
    http["direct_batch"] = most
    http["direct_images_per_s"] = direct_rate
    http["load_ratio"] = http["images_per_s"] / direct_rate


def server_gpu_gib(server: h.Server) -> float | None:
    """GPU memory the server's processes hold (nvidia-smi), or None without one."""
    if shutil.which("nvidia-smi") is None:
        return None
    pids = {server.pid, *h.children(server.pid)}
    out = subprocess.run(
        ["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    used = [int(mib) for pid, mib in _csv(out) if int(pid) in pids]
    return sum(used) / 1024 if used else None


def _csv(text: str) -> list[tuple[str, str]]:
    rows = [line.split(",") for line in text.strip().splitlines() if "," in line]
    return [(row[0].strip(), row[1].strip()) for row in rows]


# --------------------------------------------------------------------------- the run


def measure_direct(arch: gm.Arch, args: argparse.Namespace) -> tuple[Path, dict[str, Any]]:
    """Build (once) the model, then plain diffusers and easel's engine on it."""
    family, side = size_of(arch, args)
    build_start = time.perf_counter()
    path = gm.ensure_model(arch, args.models_dir, tiny=args.tiny, device=args.device)
    log(f"{arch.name}: model at {path} ({time.perf_counter() - build_start:.0f} s)")
    results: dict[str, Any] = {
        "label": arch.label,
        "family": family,
        "size": side,
        "steps": args.steps,
        "parameters": gm.parameter_count(path),
        "diffusers": measure_diffusers(path, arch, args),
    }
    free_memory()  # the plain pipeline is gone; its memory goes back before easel loads
    results["engine"] = measure_engine(path, arch, args, compile_cache(args))
    return path, results


def compile_cache(args: argparse.Namespace) -> Path:
    return Path(args.models_dir) / "compile-cache"


def lookup(results: dict[str, Any], key: str) -> float | None:
    value: Any = results
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return float(value) if isinstance(value, int | float) else None


def target_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    gpu = results["mode"] == "gpu"
    rows = []
    for target in TARGETS:
        measured = lookup(results["archs"], target.key) if gpu else None
        met = None
        if measured is not None:
            met = measured >= target.goal if target.higher_is_better else measured <= target.goal
        rows.append(
            {
                "target": target.label,
                "goal": target.goal,
                "unit": target.unit,
                "higher_is_better": target.higher_is_better,
                "measured": measured,
                "met": met,
                "before": target.before,
            }
        )
    return rows


def machine(args: argparse.Namespace) -> dict[str, str]:
    import diffusers
    import torch
    import transformers

    facts = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "device": args.device,
        "gpu": torch.cuda.get_device_name() if cuda(args) else "none (CPU run)",
        "cuda (torch build)": str(torch.version.cuda),
        "driver": _nvidia_smi("driver_version") or "n/a",
        "cpu": f"{os.cpu_count()} x {h._cpu_model()}",
        "torch threads": str(torch.get_num_threads()),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
        "platform": platform.platform(),
    }
    return facts


def _nvidia_smi(field: str) -> str:
    if shutil.which("nvidia-smi") is None:
        return ""
    out = subprocess.run(
        ["nvidia-smi", f"--query-gpu={field}", "--format=csv,noheader"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return out.strip().splitlines()[0] if out.strip() else ""


def run(args: argparse.Namespace) -> dict[str, Any]:
    h.pin_torch_threads(threads(args))
    results: dict[str, Any] = {
        "mode": "tiny" if args.tiny else ("gpu" if cuda(args) else "cpu"),
        "args": {
            "steps": args.steps,
            "batches": args.batches,
            "runs": args.runs,
            "clients": args.clients,
            "per_client": args.per_client,
            "compile": args.compile or "setting default",
        },
        "machine": machine(args),
        "archs": {},
    }
    models: dict[str, Path] = {}
    for arch in args.archs:
        models[arch.name], results["archs"][arch.name] = measure_direct(arch, args)
        write(args, results)  # after each part: a run cut short keeps what it measured
    if not args.skip_http:
        with tempfile.TemporaryDirectory(prefix="easel-gpu-bench-") as tmp:
            http = measure_http(models, args, compile_cache(args), Path(tmp))
        for name, figures in http.items():
            with_ratios(figures, results["archs"][name]["engine"]["batches"], args)
            results["archs"][name]["http"] = figures
        write(args, results)
    return results


def write(args: argparse.Namespace, results: dict[str, Any]) -> None:
    from gpu_report import report

    results["targets"] = target_rows(results)
    args.output.write_text(report(results))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


def main() -> None:
    args = parse_args()
    start = time.perf_counter()
    results = run(args)
    log(f"wrote {args.output} in {time.perf_counter() - start:.0f} s")
    if results["mode"] == "gpu":
        for row in results["targets"]:
            print(f"  {row['target']}: {row['measured']} (goal {row['goal']} {row['unit']})")


if __name__ == "__main__":
    sys.exit(main())
