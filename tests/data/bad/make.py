"""Regenerate the bad-input corpus: `python tests/data/bad/make.py` (deterministic).

Each file is something no image route may accept or charge for. The files
that start as valid PNGs are 512x512, a size every route takes, so only the
defect can be what refuses them. The 50 MB text-chunk bomb is built at test
time by `text_chunk_bomb()` rather than committed.
"""

from __future__ import annotations

import functools
import io
import random
import struct
import zipfile
import zlib
from pathlib import Path

from PIL import Image

HERE = Path(__file__).parent


def gradient(mode: str = "RGB") -> Image.Image:
    image = Image.linear_gradient("L").resize((512, 512))
    return image.convert(mode)


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, idat: bytes, *extra: bytes) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + b"".join(extra)
        + chunk(b"IDAT", idat)
        + chunk(b"IEND", b"")
    )


@functools.cache
def text_chunk_bomb(megabytes: int = 50) -> bytes:
    """A valid 512x512 PNG carrying a zTXt chunk that inflates to `megabytes` MB."""
    text = zlib.compress(b"\0" * (megabytes * 1024 * 1024), 9)
    rows = zlib.compress(b"\0" * (513 * 512), 9)  # filter byte + 512 pixels, per row
    return png(512, 512, rows, chunk(b"zTXt", b"Comment\0\0" + text))


def corpus() -> dict[str, bytes]:
    good = encode(gradient(), "PNG")
    bad_crc = bytearray(good)
    bad_crc[-13] ^= 0xFF  # the last byte of the IDAT chunk's CRC, just before IEND
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("payload.txt", "a zip archive hiding behind a PNG")
    rng = random.Random(16)
    return {
        "truncated.png": good[: len(good) // 2],
        "bad_crc.png": bytes(bad_crc),
        # IHDR says 512x512; IDAT holds four rows of it
        "short_data.png": png(512, 512, zlib.compress(b"\0" * (513 * 4))),
        # 20000 x 20000 declared (400 MP), 100 bytes on disk
        "bomb_20000x20000.png": png(20000, 20000, zlib.compress(b"\0" * 20001)),
        "image.gif": encode(gradient("P"), "GIF"),
        "image.tiff": encode(gradient("L"), "TIFF", compression="tiff_lzw"),
        "image.bmp": encode(gradient("1"), "BMP"),
        "document.pdf": b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n",
        "image.eps": b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 512 512\nshowpage\n%%EOF\n",
        "random.bin": rng.randbytes(4096),
        "polyglot.png.zip": good + archive.getvalue(),
        "empty.png": b"",
    }


if __name__ == "__main__":
    for name, data in corpus().items():
        (HERE / name).write_bytes(data)
        print(f"{name}: {len(data)} bytes")
