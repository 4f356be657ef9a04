"""Output encoding: images as PNG, JPEG or WebP, videos as MP4, meshes as GLB.

PNGs carry how they were made (engine, prompts, size, steps, sampler, seed)
in a `parameters` text chunk, as other Stable Diffusion tools do; JPEG and
WebP carry no metadata, as Stability's own outputs don't. Videos are H.264 in
MP4 through PyAV (imported when the first video is encoded); meshes arrive
from the engine as binary glTF already.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

from PIL import Image, PngImagePlugin

OutputFormat = Literal["png", "jpeg", "webp"]

MEDIA_TYPES: dict[str, str] = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
}
MP4 = "video/mp4"
GLB = "model/gltf-binary"


@dataclass(frozen=True)
class EncodedImage:
    data: bytes
    media_type: str
    extension: str


def encode_image(
    image: Image.Image,
    output_format: OutputFormat = "png",
    *,
    parameters: dict[str, Any] | None = None,
) -> EncodedImage:
    """`image` in `output_format`; a PNG records `parameters` in a text chunk."""
    buffer = io.BytesIO()
    if output_format == "png":
        info = PngImagePlugin.PngInfo()
        if parameters is not None:
            info.add_text("parameters", json.dumps(parameters, sort_keys=True))
        image.save(buffer, format="PNG", pnginfo=info)
    elif output_format == "jpeg":
        image.convert("RGB").save(buffer, format="JPEG", quality=95)
    else:
        image.save(buffer, format="WEBP", quality=95)
    return EncodedImage(buffer.getvalue(), MEDIA_TYPES[output_format], output_format)


def encode_png(image: Image.Image, parameters: dict[str, Any]) -> bytes:
    """PNG bytes of an RGB image with `parameters` in its text chunk."""
    return encode_image(image.convert("RGB"), "png", parameters=parameters).data


def encode_mp4(frames: Sequence[Image.Image], fps: float) -> EncodedImage:
    """The frames as an H.264 MP4 (yuv420p, so players and browsers take it), `fps` per second.

    Frames must share one size with even sides.
    """
    import av

    if not frames:
        raise ValueError("a video needs at least one frame")
    width, height = frames[0].size
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as mp4:
        stream = mp4.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "17", "preset": "medium"}
        for frame in frames:
            mp4.mux(stream.encode(av.VideoFrame.from_image(frame.convert("RGB"))))  # type: ignore[no-untyped-call]
        mp4.mux(stream.encode())  # flush the encoder
    return EncodedImage(buffer.getvalue(), MP4, "mp4")


def encode_glb(glb: bytes) -> EncodedImage:
    """A mesh the engine already wrote as binary glTF."""
    if glb[:4] != b"glTF":
        raise ValueError("not a binary glTF (GLB) file")
    return EncodedImage(glb, GLB, "glb")
