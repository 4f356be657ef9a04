"""How the worker encodes outputs that are not images: MP4 videos and GLB meshes."""

from __future__ import annotations

import io
from collections.abc import Sequence

import av
from PIL import Image

from easel.engines.base import GeneratedMesh, GeneratedVideo
from easel.generation.media import ImageToVideo, StableFast3D
from easel.generation.service import GenerationWork
from tests.fakes import FAKE_FPS, fake_output, noise


class FlagsEverything:
    def flags(self, image: Image.Image, prompts: Sequence[str]) -> bool:
        return True


def work(
    op: ImageToVideo | StableFast3D, classifier: FlagsEverything | None = None
) -> GenerationWork:
    op = op.model_copy(update={"seeds": (4,)})
    return GenerationWork("e", op, op.to_engine(), op.png_parameters("e"), classifier)


def test_a_video_is_an_h264_mp4_of_every_frame() -> None:
    video = work(ImageToVideo(image=noise(768, 768, 1))).encode(_video())
    assert (video.media_type, video.extension, video.finish_reason) == (
        "video/mp4",
        "mp4",
        "SUCCESS",
    )
    with av.open(io.BytesIO(video.data)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.average_rate) == ("h264", FAKE_FPS)
        assert [(f.width, f.height) for f in container.decode(video=0)] == [(64, 48)] * 3


def test_flagged_frames_are_blurred_and_the_video_content_filtered() -> None:
    op = ImageToVideo(image=noise(768, 768, 1))
    clean = work(op).encode(_video())
    filtered = work(op, FlagsEverything()).encode(_video())
    assert filtered.finish_reason == "CONTENT_FILTERED"
    assert filtered.data != clean.data


def test_a_mesh_passes_through_as_glb() -> None:
    op = StableFast3D(image=noise(64, 64, 1))
    mesh = fake_output(op.model_copy(update={"seeds": (4,)}).to_engine(), 4)
    assert isinstance(mesh, GeneratedMesh)
    encoded = work(op).encode(mesh)
    assert (encoded.data, encoded.media_type, encoded.extension) == (
        mesh.glb,
        "model/gltf-binary",
        "glb",
    )


def _video() -> GeneratedVideo:
    return GeneratedVideo([noise(64, 48, seed) for seed in range(3)], FAKE_FPS, 4)
