"""A configurable prompt filter: refuse prompts that contain blocked terms.

Stability answers such prompts with 400 `invalid_prompts` and charges nothing.
The default list is empty; operators set `EASEL_SAFETY__BLOCKED_TERMS`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from easel.errors import InvalidRequest


class PromptFilter:
    def __init__(self, blocked_terms: Iterable[str]) -> None:
        terms = sorted({t.strip().lower() for t in blocked_terms if t.strip()})
        # Whole words only, so "classic" is not blocked by "ass".
        self._pattern = (
            re.compile(r"\b(" + "|".join(re.escape(t) for t in terms) + r")\b", re.IGNORECASE)
            if terms
            else None
        )

    def check(self, prompts: Iterable[str]) -> None:
        """Raise 400 `invalid_prompts` if any prompt contains a blocked term."""
        if self._pattern is None:
            return
        for index, prompt in enumerate(prompts):
            if self._pattern.search(prompt):
                raise InvalidRequest(
                    f"text_prompts[{index}]: contains filtered words",
                    name="invalid_prompts",
                )
