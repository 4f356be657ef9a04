"""The output classifier hook: flagged images come back blurred, `CONTENT_FILTERED`.

Stability returns such an image as a billed 200 with finish reason
CONTENT_FILTERED (reference §1.4). easel's default classifier flags nothing;
the sandbox one is a deterministic stub for testing that path: it flags the
outputs of requests whose prompt holds one of its terms. A real classifier
(an NSFW model, say) implements the same protocol and looks at the image.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Protocol

from PIL import Image, ImageFilter

BLUR_RADIUS = 32


class OutputClassifier(Protocol):
    def flags(self, image: Image.Image, prompts: Sequence[str]) -> bool:
        """Whether `image`, made from `prompts`, must not be shown as it is."""
        ...


class TermClassifier:
    """The sandbox stub: flags the outputs of prompts containing any of `terms`."""

    def __init__(self, terms: Iterable[str]) -> None:
        words = sorted({t.strip().lower() for t in terms if t.strip()})
        self._pattern = (
            re.compile(r"\b(" + "|".join(re.escape(w) for w in words) + r")\b", re.IGNORECASE)
            if words
            else None
        )

    def flags(self, image: Image.Image, prompts: Sequence[str]) -> bool:
        return self._pattern is not None and any(self._pattern.search(p) for p in prompts)


def blur(image: Image.Image) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(BLUR_RADIUS))
