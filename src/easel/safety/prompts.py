"""A configurable prompt filter: refuse prompts that contain blocked terms.

Stability answers such prompts with 400 `invalid_prompts` and charges nothing.
The default list is empty; operators set `EASEL_SAFETY__BLOCKED_TERMS`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from easel.errors import InvalidRequest


class PromptRejected(InvalidRequest):
    """A prompt contains a blocked term (v1 answers 400, v2beta 422; never charged)."""

    name = "invalid_prompts"


class PromptFilter:
    def __init__(self, blocked_terms: Iterable[str]) -> None:
        terms = sorted({t.strip().lower() for t in blocked_terms if t.strip()})
        # Whole words only, so "classic" is not blocked by "ass".
        self._pattern = (
            re.compile(r"\b(" + "|".join(re.escape(t) for t in terms) + r")\b", re.IGNORECASE)
            if terms
            else None
        )

    def check(self, prompts: Iterable[tuple[str, str]]) -> None:
        """Raise `PromptRejected` if a prompt contains a blocked term.

        `prompts` are (field, text) pairs; the field names the prompt in the error
        as the client sent it (`text_prompts[0]`, `prompt`).
        """
        if self._pattern is None:
            return
        for field, prompt in prompts:
            if self._pattern.search(prompt):
                raise PromptRejected(f"{field}: contains filtered words")
