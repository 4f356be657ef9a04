"""Sandbox time of every generation endpoint, through a real `easel serve`.

One `easel serve` (the default local worker process, sandbox engines) on a
free 127.0.0.1 port; the SDK (`easel.client.Client`) calls every v1 and
v2beta generation endpoint as a user would. Each endpoint is called once
untimed-but-recorded (the first call loads its tiny models into the worker),
then `--runs` times; the report gives the first call and the median and range
of the rest, with what came back (size, format, frames, mesh).

Sizes are the endpoint's default where it has one (generate: 1:1 at the
engine's native size; v1 text-to-image: the engine's default). Endpoints that
take an image answer at its size, so they get the size a user most often
sends: 1024x1024 (1 MP), 512x512 for the upscalers meant for small images,
and 768x768 for image-to-video (one of its three allowed sizes).
Asynchronous endpoints are timed from submit to the result, polled every 0.1 s.

    .venv/bin/python bench/endpoints.py [--runs 3] [--only edit/]
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness as h
import numpy as np
from PIL import Image, ImageDraw

from easel.client import Client, GenerationJob, GenerationResult, MediaResult

PROMPT = h.PROMPT


def subject_png(width: int, height: int) -> bytes:
    """A clear subject (a lit disc) on a soft gradient: what segmentation and
    relighting expect, and not a flat image that compresses to nothing."""
    x = np.linspace(0, 1, width)[None, :, None]
    y = np.linspace(0, 1, height)[:, None, None]
    background = 60 + 120 * x * np.array([0.4, 0.7, 1.0]) + 40 * y
    image = Image.fromarray(background.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    r = min(width, height) // 4
    cx, cy = width // 2, height // 2
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(220, 80, 40))
    return png(image)


def mask_png(width: int, height: int) -> bytes:
    """White (edit) over the centre quarter of the image, black elsewhere."""
    image = Image.new("L", (width, height), 0)
    ImageDraw.Draw(image).rectangle((width // 4, height // 4, 3 * width // 4, 3 * height // 4), 255)
    return png(image)


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


Call = Callable[[Client], Any]


@dataclass(frozen=True)
class Case:
    endpoint: str
    given: str  # what the request sends, for the report
    call: Call


def cases() -> list[Case]:
    mp = subject_png(1024, 1024)
    mp_mask = mask_png(1024, 1024)
    small = subject_png(512, 512)
    small_mask = mask_png(512, 512)
    square_video = subject_png(768, 768)
    sd16, sdxl = "stable-diffusion-v1-6", "stable-diffusion-xl-1024-v1-0"
    return [
        Case(
            "v1 text-to-image (SD 1.6)",
            "defaults (512², 30 steps)",
            lambda c: c.text_to_image(sd16, PROMPT),
        ),
        Case(
            "v1 text-to-image (SDXL)",
            "1024² (v1's 512² default is not an SDXL size)",
            lambda c: c.text_to_image(sdxl, PROMPT, width=1024, height=1024),
        ),
        Case(
            "v1 image-to-image (SD 1.6)",
            "512² init, strength 0.35",
            lambda c: c.image_to_image(sd16, small, PROMPT, image_strength=0.35),
        ),
        Case(
            "v1 masking (SD 1.6)",
            "512² init + mask",
            lambda c: c.masking(sd16, small, small_mask, prompt=PROMPT),
        ),
        Case(
            "v1 upscale (ESRGAN 2x)",
            "512²",
            lambda c: c.upscale("esrgan-v1-x2plus", small),
        ),
        Case("generate/ultra", "1:1", lambda c: c.generate_ultra(PROMPT)),
        Case("generate/core", "1:1", lambda c: c.generate_core(PROMPT)),
        Case("generate/sd3 (sd3.5-large)", "1:1", lambda c: c.generate_sd3(PROMPT)),
        Case("upscale/fast", "512²", lambda c: c.upscale_fast(small)),
        Case("upscale/conservative", "1024²", lambda c: c.upscale_conservative(mp, PROMPT)),
        Case("upscale/creative (async)", "512²", lambda c: c.upscale_creative(small, PROMPT)),
        Case("edit/erase", "1024² + mask", lambda c: c.edit_erase(mp, mask=mp_mask)),
        Case(
            "edit/inpaint",
            "1024² + mask",
            lambda c: c.edit_inpaint(mp, PROMPT, mask=mp_mask),
        ),
        Case(
            "edit/outpaint",
            "1024², +128 px left and right",
            lambda c: c.edit_outpaint(mp, left=128, right=128, prompt=PROMPT),
        ),
        Case(
            "edit/search-and-replace",
            "1024²",
            lambda c: c.edit_search_and_replace(mp, "a blue ball", search_prompt="orange disc"),
        ),
        Case(
            "edit/search-and-recolor",
            "1024²",
            lambda c: c.edit_search_and_recolor(mp, "green", select_prompt="disc"),
        ),
        Case("edit/remove-background", "1024²", lambda c: c.edit_remove_background(mp)),
        Case(
            "edit/replace-background-and-relight (async)",
            "1024², background prompt, light from the left",
            lambda c: c.edit_replace_background_and_relight(
                mp,
                background_prompt="a forest at dawn",
                light_source_direction="left",
                light_source_strength=0.5,
            ),
        ),
        Case("control/sketch", "1024²", lambda c: c.control_sketch(mp, PROMPT)),
        Case("control/structure", "1024²", lambda c: c.control_structure(mp, PROMPT)),
        Case("control/style", "1024² style image, 1:1", lambda c: c.control_style(mp, PROMPT)),
        Case(
            "control/style-transfer",
            "1024² init + 1024² style",
            lambda c: c.control_style_transfer(mp, mp, prompt=PROMPT),
        ),
        Case("image-to-video (async)", "768x768", lambda c: c.image_to_video(square_video)),
        Case("3d/stable-fast-3d", "1024²", lambda c: c.stable_fast_3d(mp)),
        Case("3d/stable-point-aware-3d", "1024²", lambda c: c.stable_point_aware_3d(mp)),
    ]


def finish(client: Client, answer: Any) -> tuple[bytes, str]:
    """The output bytes and media type, waiting out an asynchronous job."""
    if isinstance(answer, GenerationJob):
        while (result := answer.poll()) is None:
            time.sleep(0.1)
        answer = result
    if isinstance(answer, GenerationResult):
        return answer.artifacts[0].to_bytes(), "image/png"
    assert isinstance(answer, MediaResult)
    return answer.data, answer.media_type


def describe(data: bytes, media_type: str) -> str:
    """What came back, decoded: image size and mode, video frames, mesh size."""
    if media_type.startswith("image/"):
        with Image.open(io.BytesIO(data)) as image:
            return f"{media_type.split('/')[1]} {image.width}x{image.height} {image.mode}"
    if media_type == "video/mp4":
        import av

        with av.open(io.BytesIO(data)) as container:
            frames = [frame for frame in container.decode(video=0)]
        first = frames[0]
        return f"mp4 {len(frames)} frames {first.width}x{first.height}"
    if media_type == "model/gltf-binary":
        import trimesh

        mesh = trimesh.load(io.BytesIO(data), file_type="glb", force="mesh")
        return f"glb {len(mesh.vertices)} vertices {len(mesh.faces)} faces"
    return f"{media_type} {len(data)} bytes"


@dataclass
class Timing:
    case: Case
    first: float = 0.0
    runs: list[float] = field(default_factory=list)
    output: str = ""

    def row(self) -> list[str]:
        rest = self.runs or [self.first]
        return [
            self.case.endpoint,
            self.case.given,
            self.output,
            f"{self.first:.2f}",
            f"{h.median(rest):.2f}",
            f"{min(rest):.2f}-{max(rest):.2f}",
        ]


def measure(client: Client, case: Case, runs: int) -> Timing:
    timing = Timing(case)
    for run in range(runs + 1):
        start = time.perf_counter()
        data, media_type = finish(client, case.call(client))
        seconds = time.perf_counter() - start
        if run == 0:
            timing.first, timing.output = seconds, describe(data, media_type)
        else:
            timing.runs.append(seconds)
    print(" | ".join(timing.row()), flush=True)
    return timing


def report(timings: list[Timing], facts: dict[str, str], meter: str, runs: int) -> str:
    header = ["endpoint", "request", "output", "first call s", f"median of {runs} s", "range s"]
    return "\n".join(
        [
            "# Sandbox time of every generation endpoint",
            "",
            "Written by `bench/endpoints.py` (its docstring gives the method): one `easel serve`",
            "with its sandbox engines (tiny models of the real architectures, loaded through",
            "the same code as real weights) in its local worker process, called through the",
            "SDK over HTTP on 127.0.0.1. The first call of each endpoint includes loading its",
            "tiny models into the worker; the others are warm. Times are wall seconds from",
            "the request to the decoded result, including HTTP, the job queue and encoding.",
            "",
            h.facts_table(facts),
            "",
            f"Other processes during the run: {meter}.",
            "",
            h.table(header, [t.row() for t in timings]),
            "",
            "v1 upscale's `esrgan-v1-x2plus` sandbox is a Lanczos resize, no network (its",
            "engine description says so); v2beta upscale/fast runs a tiny Real-ESRGAN.",
            "",
            "These are CPU figures for the tiny sandbox models: they say how long an",
            "integration test against the sandbox waits, not how fast a real model is.",
            "Real-size architectures on a GPU are measured by `bench/gpu.py` (see",
            "[gpu.md](gpu.md)).",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed calls per endpoint")
    parser.add_argument("--only", default="", help="only endpoints whose name contains this")
    parser.add_argument("--models-dir", type=Path, default=h.DEFAULT_MODELS_DIR)
    parser.add_argument("--quiet-wait", type=float, default=120)
    parser.add_argument("--out", type=Path, default=h.BENCH_DIR / "endpoints.md")
    args = parser.parse_args()

    chosen = [case for case in cases() if args.only in case.endpoint]
    quiet = h.wait_for_quiet(args.quiet_wait)
    facts = h.machine_facts(quiet)
    facts["runs per endpoint"] = f"1 first call + {args.runs}"
    facts["sandbox models"] = (
        "built before this run"
        if any(args.models_dir.glob("*"))
        else "built during this run (in the first call of each architecture)"
    )
    with tempfile.TemporaryDirectory(prefix="easel-bench-endpoints-") as tmp:
        work = Path(tmp)
        env = h.easel_env(args.models_dir)
        with h.serve_easel(work / "data", env, work) as server:
            meter = h.CpuMeter(live_pids=[server.pid, *h.children(server.pid)])
            client = Client(server.api_key(), host=server.url, timeout=None, rate_limit=None)
            with client:
                timings = [measure(client, case, args.runs) for case in chosen]
            summary = meter.summary()
    args.out.write_text(report(timings, facts, summary, args.runs))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
