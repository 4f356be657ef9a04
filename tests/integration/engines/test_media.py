"""Image-to-video (tiny SVD) and image-to-3D (tiny Depth Anything) through the real code."""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest
import trimesh
from PIL import Image

from easel.engines.base import GeneratedMesh, GeneratedVideo, GenerationRequest
from easel.engines.registry import EngineRegistry
from easel.engines.tiny_media import SVD_FRAMES
from easel.errors import Cancelled, InvalidRequest
from tests.integration.engines.conftest import noise_image, png

VIDEO, FAST_3D = "stable-video-diffusion", "stable-fast-3d"


def video_request(seed: int = 5, steps: int = 2, **extras: Any) -> GenerationRequest:
    return GenerationRequest(
        kind="image-to-video",
        prompts=[],
        width=1024,
        height=576,
        seeds=[seed],
        steps=steps,
        cfg_scale=1.8,
        init_image=noise_image((1024, 576)),
        extras=extras,
    )


def mesh_request(image: Image.Image, **extras: Any) -> GenerationRequest:
    return GenerationRequest(
        kind="image-to-3d",
        prompts=[],
        width=image.width,
        height=image.height,
        seeds=[3],
        steps=1,
        init_image=image,
        extras={"texture_resolution": 512, **extras},
    )


def video_of(registry: EngineRegistry, request: GenerationRequest, **kw: Any) -> GeneratedVideo:
    (result,) = registry.get(VIDEO).generate([request], **kw)
    (video,) = result.images
    assert isinstance(video, GeneratedVideo)
    return video


def test_svd_makes_the_models_frames_at_the_output_size_deterministically(
    registry: EngineRegistry,
) -> None:
    steps: list[tuple[int, int]] = []
    first = video_of(registry, video_request(), progress=lambda s, t: steps.append((s, t)))
    assert steps == [(1, 2), (2, 2)]
    assert [f.size for f in first.frames] == [(1024, 576)] * SVD_FRAMES
    assert (first.fps, first.seed) == (7, 5)
    again = video_of(registry, video_request())
    assert [png(f) for f in again.frames] == [png(f) for f in first.frames]
    other = video_of(registry, video_request(seed=6))
    assert png(other.frames[-1]) != png(first.frames[-1])


def test_svd_stops_within_a_step_when_cancelled(registry: EngineRegistry) -> None:
    cancel = threading.Event()
    seen: list[int] = []

    def progress(step: int, total: int) -> None:
        seen.append(step)
        cancel.set()

    with pytest.raises(Cancelled):
        registry.get(VIDEO).generate([video_request(steps=3)], progress=progress, cancel=cancel)
    assert seen == [1]


def test_svd_refuses_a_motion_bucket_out_of_range(registry: EngineRegistry) -> None:
    with pytest.raises(InvalidRequest, match="motion_bucket_id"):
        registry.get(VIDEO).generate([video_request(motion_bucket_id=300)])


def test_depth_relief_is_a_deterministic_glb_within_its_limits(registry: EngineRegistry) -> None:
    subject = Image.new("RGBA", (160, 120), (0, 0, 0, 0))
    subject.paste(noise_image((80, 60)).convert("RGBA"), (40, 30))
    steps: list[tuple[int, int]] = []
    request = mesh_request(subject, vertex_limit=400, foreground_ratio=0.85)
    (result,) = registry.get(FAST_3D).generate(
        [request], progress=lambda s, t: steps.append((s, t))
    )
    (output,) = result.images
    assert isinstance(output, GeneratedMesh) and output.seed == 3
    assert steps == [(1, 2), (2, 2)]
    mesh = trimesh.load(io.BytesIO(output.glb), file_type="glb", force="mesh")
    assert 0 < len(mesh.vertices) <= 400 and len(mesh.faces) > 0
    assert mesh.visual.material.baseColorTexture.size == (512, 512)
    (again,) = registry.get(FAST_3D).generate([request])
    assert again.images[0] == output


def test_depth_relief_stops_when_cancelled(registry: EngineRegistry) -> None:
    cancel = threading.Event()
    with pytest.raises(Cancelled):
        registry.get(FAST_3D).generate(
            [mesh_request(noise_image(64))], progress=lambda s, t: cancel.set(), cancel=cancel
        )
