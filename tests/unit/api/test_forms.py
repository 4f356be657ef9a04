"""Multipart bodies as third-party clients send them, replayed byte for byte.

Stability's own Go and TypeScript v1 examples send `init_image`, `mask_image`
and `image` as parts without a filename: Go's `mime/multipart`
`CreateFormField` with no part content type, Node's `form-data` with a Buffer
as `application/octet-stream`. The builders below write exactly the bytes
those libraries write, so the tests do not depend on httpx's own encoder.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import httpx
import pytest
from PIL import Image

from easel.api.services import Services
from tests.factories import TestAccount
from tests.fakes import FakeEngine
from tests.images import mask_png, noise_png

SD = "stable-diffusion-v1-6"
INPAINT = "stable-inpainting-512-v2-0"
ESRGAN = "esrgan-v1-x2plus"

pytestmark = pytest.mark.usefixtures("fake_engines")

Part = tuple[str, bytes | str]
Encoder = Callable[[list[Part]], tuple[str, bytes]]


def go_multipart(parts: list[Part]) -> tuple[str, bytes]:
    """What Go's `multipart.Writer` sends: `CreateFormField`/`WriteField` for every
    part (one Content-Disposition header, no content type), `\\r\\n--B\\r\\n` between
    parts and `\\r\\n--B--\\r\\n` at the end; the boundary is 30 random bytes in hex."""
    boundary = "5c1f0d7b9e3a2f4c6b8d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b"
    body = bytearray()
    for index, (name, value) in enumerate(parts):
        body += f"{'--' if index == 0 else chr(13) + chr(10) + '--'}{boundary}\r\n".encode()
        body += f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        body += value if isinstance(value, bytes) else value.encode()
    body += f"\r\n--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", bytes(body)


def node_form_data(parts: list[Part]) -> tuple[str, bytes]:
    """What Node's `form-data` sends: a Buffer gets `Content-Type:
    application/octet-stream` and no filename, strings and numbers no content type;
    each part ends in CRLF and the body in `--B--\\r\\n`; the boundary is 26 dashes and
    24 digits."""
    boundary = "--------------------------" + "483920175639201847561029"
    body = bytearray()
    for name, value in parts:
        body += f"--{boundary}\r\n".encode()
        body += f'Content-Disposition: form-data; name="{name}"\r\n'.encode()
        if isinstance(value, bytes):
            body += b"Content-Type: application/octet-stream\r\n"
        body += b"\r\n"
        body += value if isinstance(value, bytes) else value.encode()
        body += b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", bytes(body)


ENCODERS = pytest.mark.parametrize("encode", [go_multipart, node_form_data], ids=["go", "node"])


async def post(
    client: httpx.AsyncClient,
    account: TestAccount,
    path: str,
    encoded: tuple[str, bytes],
    accept: str = "application/json",
) -> httpx.Response:
    content_type, body = encoded
    headers = {**account.headers, "Content-Type": content_type, "Accept": accept}
    return await client.post(f"/v1/generation/{path}", headers=headers, content=body)


def rgb(png: bytes) -> bytes:
    return Image.open(io.BytesIO(png)).convert("RGB").tobytes()


@ENCODERS
async def test_image_to_image_example(
    encode: Encoder,
    client: httpx.AsyncClient,
    account: TestAccount,
    fake_engines: dict[str, FakeEngine],
) -> None:
    init = noise_png(512, 512)
    encoded = encode(
        [
            ("init_image", init),
            ("init_image_mode", "IMAGE_STRENGTH"),
            ("image_strength", "0.35"),
            ("text_prompts[0][text]", "Galactic dog with a cape"),
            ("cfg_scale", "7"),
            ("samples", "1"),
            ("steps", "30"),
        ]
    )
    response = await post(client, account, f"{SD}/image-to-image", encoded)
    assert response.status_code == 200, response.text
    request = fake_engines[SD].calls[-1][0]
    assert request.init_image is not None and request.init_image.tobytes() == rgb(init)
    assert (request.image_strength, request.steps) == (0.35, 30)
    assert [p.text for p in request.prompts] == ["Galactic dog with a cape"]


@ENCODERS
async def test_masking_example(
    encode: Encoder,
    client: httpx.AsyncClient,
    account: TestAccount,
    fake_engines: dict[str, FakeEngine],
) -> None:
    init = noise_png(512, 512)
    encoded = encode(
        [
            ("init_image", init),
            ("mask_image", mask_png(512, 512, box=(0, 0, 256, 512))),
            ("mask_source", "MASK_IMAGE_WHITE"),
            ("text_prompts[0][text]", "A large spiral galaxy"),
            ("cfg_scale", "7"),
            ("clip_guidance_preset", "FAST_BLUE"),
            ("samples", "1"),
            ("steps", "30"),
        ]
    )
    response = await post(client, account, f"{INPAINT}/image-to-image/masking", encoded)
    assert response.status_code == 200, response.text
    request = fake_engines[INPAINT].calls[-1][0]
    assert request.init_image is not None and request.init_image.tobytes() == rgb(init)
    assert request.mask is not None
    assert (request.mask.getpixel((10, 10)), request.mask.getpixel((400, 10))) == (255, 0)


@ENCODERS
async def test_upscale_example(
    encode: Encoder,
    client: httpx.AsyncClient,
    account: TestAccount,
    fake_engines: dict[str, FakeEngine],
) -> None:
    image = noise_png(512, 512)
    encoded = encode([("image", image), ("width", "1024")])
    response = await post(
        client, account, f"{ESRGAN}/image-to-image/upscale", encoded, accept="image/png"
    )
    assert response.status_code == 200, response.text
    request = fake_engines[ESRGAN].calls[-1][0]
    assert request.init_image is not None and request.init_image.tobytes() == rgb(image)
    assert (request.width, request.height) == (1024, 1024)


def error(response: httpx.Response, fragment: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"id", "name", "message"} and body["name"] == "bad_request", body
    assert fragment in body["message"], body


def i2i_parts() -> list[Part]:
    return [("init_image", noise_png(512, 512)), ("text_prompts[0][text]", "a dog")]


@pytest.mark.parametrize(
    ("encoded", "fragment"),
    [
        (("multipart/form-data", go_multipart(i2i_parts())[1]), "boundary"),
        ((go_multipart(i2i_parts())[0], go_multipart(i2i_parts())[1][:-40]), "closing boundary"),
        ((go_multipart([])[0], b""), "closing boundary"),
        (go_multipart(i2i_parts() + [(f"x{i}", "1") for i in range(300)]), "too many form fields"),
        (
            node_form_data([("init_image", noise_png(64, 64))] * 3 + [("image", b"x")] * 2),
            "too many files",
        ),
        (go_multipart(i2i_parts() + [("extras", "x" * (1024 * 1024 + 1))]), "extras: a text"),
        (
            ("multipart/form-data; boundary=b", b"--b\r\nX-Other: y\r\n\r\nvalue\r\n--b--\r\n"),
            "Content-Disposition",
        ),
        (go_multipart(i2i_parts() + [("steps", b"\xff\xfe")]), "steps: must be UTF-8"),
    ],
    ids=[
        "no-boundary",
        "truncated",
        "empty",
        "too-many-parts",
        "too-many-files",
        "field-too-large",
        "no-disposition",
        "not-utf8",
    ],
)
async def test_bad_multipart_is_400(
    client: httpx.AsyncClient,
    account: TestAccount,
    services: Services,
    encoded: tuple[str, bytes],
    fragment: str,
) -> None:
    error(await post(client, account, f"{SD}/image-to-image", encoded), fragment)
    assert services.billing.available_credits(account.org_id) == 50


async def test_undeclared_part_with_a_filename_is_a_file_and_ignored(
    client: httpx.AsyncClient, account: TestAccount, fake_engines: dict[str, FakeEngine]
) -> None:
    content_type, body = go_multipart(i2i_parts() + [("steps", "12")])
    boundary = content_type.split("=", 1)[1]
    closing = f"\r\n--{boundary}--\r\n".encode()
    attachment = (
        f"\r\n--{boundary}\r\n".encode()
        + b'Content-Disposition: form-data; name="attachment"; filename="a.bin"\r\n\r\n\xff\x00'
    )
    body = body.removesuffix(closing) + attachment + closing
    response = await post(client, account, f"{SD}/image-to-image", (content_type, body))
    assert response.status_code == 200, response.text
    assert fake_engines[SD].calls[-1][0].steps == 12
