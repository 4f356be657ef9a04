"""Single process vs split, in pairs: is the worker process ever slower?

    .venv/bin/python bench/split_pairs.py [--pairs 20]   # writes bench/split_pairs.md

Two `easel serve` processes on free 127.0.0.1 ports share the sandbox model:
one with `jobs.executor = inprocess` (generation in a thread of the API
process) and one with `local` (the default: generation in a worker process).
The same request (512x512, 20 steps, fixed seed) goes to each in turn, the
order swapped every pair, so each pair is measured at the same moment of a
machine whose speed drifts by more than the difference sought: `overhead.py`'s
direct-call ratios, taken in runs minutes apart, moved by 2-4 % between runs of
the same code. One server idles while the other works; both use the same torch
thread count.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import harness as h
import httpx
from overhead import direct_engine

EXECUTORS = ("local", "inprocess")


def generate(client: httpx.Client, server: h.Server, key: str, steps: int, size: int) -> float:
    started = time.perf_counter()
    response = client.post(
        f"{server.url}/v1/generation/{h.ENGINE_ID}/text-to-image",
        json=h.text_to_image_body(42, steps, size=size),
        headers=h.png_headers(key),
    )
    h.check_png(response)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--models-dir", type=Path, default=h.DEFAULT_MODELS_DIR)
    parser.add_argument("--out", type=Path, default=h.BENCH_DIR / "split_pairs.md")
    args = parser.parse_args()

    direct_engine(args.models_dir)  # builds the sandbox model once, before two servers load it
    load = h.load_average()
    seconds: dict[str, list[float]] = {name: [] for name in EXECUTORS}
    cpu: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="easel-split-") as tmp:
        work = Path(tmp)
        envs = {name: h.easel_env(args.models_dir, EASEL_JOBS__EXECUTOR=name) for name in EXECUTORS}
        with (
            h.serve_easel(work / "local", envs["local"], work) as split,
            h.serve_easel(work / "inprocess", envs["inprocess"], work) as single,
            httpx.Client(timeout=600) as client,
        ):
            servers = {"local": split, "inprocess": single}
            keys = {name: server.api_key() for name, server in servers.items()}
            for name, server in servers.items():  # warm: model load, first run
                generate(client, server, keys[name], args.steps, args.size)
            before = {name: h.tree_cpu_seconds(s.pid) for name, s in servers.items()}
            for pair in range(args.pairs):
                order = EXECUTORS if pair % 2 == 0 else EXECUTORS[::-1]
                for name in order:
                    seconds[name].append(
                        generate(client, servers[name], keys[name], args.steps, args.size)
                    )
            for name, server in servers.items():
                cpu[name] = (h.tree_cpu_seconds(server.pid) - before[name]) / args.pairs

    split_s, single_s = seconds["local"], seconds["inprocess"]
    paired = [(a - b) * 1000 for a, b in zip(split_s, single_s, strict=True)]
    rows = [
        [
            "split (`local`: a worker process)",
            f"{statistics.median(split_s):.3f}",
            f"{cpu['local']:.2f}",
        ],
        [
            "single process (`inprocess`)",
            f"{statistics.median(single_s):.3f}",
            f"{cpu['inprocess']:.2f}",
        ],
    ]
    difference = statistics.median(paired)
    share = difference / 10 / statistics.median(single_s)  # ms over s, as a percentage
    report = f"""# Single process vs split, in pairs

`python bench/split_pairs.py` (method in its docstring): the sandbox engine,
{args.size}x{args.size}, {args.steps} steps, {args.pairs} pairs, the order swapped every pair.
os.cpu_count() = {os.cpu_count()}, torch threads {h.TORCH_THREADS} in each server,
load average at start {load}.

{h.table(["server", "median wall (s)", "CPU per generation (s, with its workers)"], rows)}

Split − single, paired: median **{difference:+.0f} ms** ({share:+.1f} %), from
{min(paired):+.0f} to {max(paired):+.0f} ms. The target: the split is not slower.
"""
    args.out.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
