"""A deliberately naive text-to-image server, as most self-hosted ones are written.

One FastAPI handler for `POST /v1/generation/{engine_id}/text-to-image` that
calls one diffusers pipeline under a global `threading.Lock` and returns PNG
bytes. No auth, no queue, no batching, no database: the baseline for
bench/concurrency.py. The pipeline is the same tiny sandbox model easel builds
(loaded here with plain diffusers), with the same default sampler as easel
(DPM-Solver++ 2M).

    .venv/bin/python bench/naive_server.py --port 8100 --models-dir /tmp/easel-bench-models
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import threading
import time
from pathlib import Path
from typing import Any

import harness as h
from fastapi import FastAPI, Response
from pydantic import BaseModel


class TextPrompt(BaseModel):
    text: str
    weight: float = 1.0


class TextToImageBody(BaseModel):
    text_prompts: list[TextPrompt]
    width: int = 512
    height: int = 512
    steps: int = 30
    cfg_scale: float = 7.0
    seed: int = 0


def load_pipeline(models_dir: Path) -> Any:
    """The tiny SD model from the shared sandbox directory, loaded with diffusers only."""
    import diffusers

    from easel.engines.tiny import ensure_tiny_model

    # Same layout as easel's registry: <models_dir>/sandbox/sd (built once if missing).
    source = ensure_tiny_model("sd", models_dir / "sandbox")
    pipeline_cls: Any = diffusers.StableDiffusionPipeline
    scheduler_cls: Any = diffusers.DPMSolverMultistepScheduler  # easel's default sampler
    pipe = pipeline_cls.from_pretrained(source, safety_checker=None)
    pipe.scheduler = scheduler_cls.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to("cpu")


def create_app(pipe: Any) -> FastAPI:
    app = FastAPI(title="naive text-to-image server")
    lock = threading.Lock()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/generation/{engine_id}/text-to-image")
    def text_to_image(engine_id: str, body: TextToImageBody) -> Response:
        import torch

        positive = " ".join(p.text for p in body.text_prompts if p.weight > 0)
        negative = " ".join(p.text for p in body.text_prompts if p.weight < 0) or None
        with lock:  # one generation at a time; every other request waits here
            image = pipe(
                prompt=positive,
                negative_prompt=negative,
                width=body.width,
                height=body.height,
                num_inference_steps=body.steps,
                guidance_scale=body.cfg_scale,
                generator=torch.Generator("cpu").manual_seed(body.seed),
            ).images[0]
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return Response(buffer.getvalue(), media_type="image/png")

    return app


# --------------------------------------------------------------------------- thread check


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed_generation(pipe: Any, steps: int) -> dict[str, float]:
    """Wall seconds of one 512x512 generation and the cores it kept busy (CPU s / wall s)."""
    import torch

    cpu, start = _cpu_seconds(), time.perf_counter()
    pipe(
        prompt=h.PROMPT,
        width=512,
        height=512,
        num_inference_steps=steps,
        guidance_scale=7.0,
        generator=torch.Generator("cpu").manual_seed(11),
    )
    wall = time.perf_counter() - start
    return {"wall": wall, "cores": (_cpu_seconds() - cpu) / wall}


def thread_check(models_dir: Path, steps: int, runs: int) -> dict[str, list[dict[str, float]]]:
    """This server's pattern in miniature: load the pipeline on the main thread.

    Then generate on that thread, and on another (persistent) thread as the
    handler does (it runs on AnyIO's thread pool).
    """
    pipe = load_pipeline(models_dir)
    timed_generation(pipe, steps)  # warm-up
    results = {"loading thread": [timed_generation(pipe, steps) for _ in range(runs)]}
    other: list[dict[str, float]] = []
    worker = threading.Thread(
        target=lambda: other.extend(timed_generation(pipe, steps) for _ in range(runs + 1))
    )
    worker.start()
    worker.join()
    results["another thread"] = other[1:]  # its first run creates the thread's OpenMP team
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description="naive text-to-image server (benchmark)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--models-dir", type=Path, default=h.DEFAULT_MODELS_DIR)
    parser.add_argument(
        "--thread-check",
        type=int,
        metavar="STEPS",
        help="instead of serving, time generations on the loading thread vs another thread "
        "and print JSON",
    )
    args = parser.parse_args()
    h.pin_torch_threads()
    if args.thread_check:
        print(json.dumps(thread_check(args.models_dir, args.thread_check, runs=3)))
        return
    import uvicorn

    app = create_app(load_pipeline(args.models_dir))
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
