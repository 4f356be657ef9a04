"""Row ids: opaque, prefixed by what they name, as Stability's are (`org-3f2a…`)."""

from __future__ import annotations

import secrets


def new_id(prefix: str) -> str:
    """An opaque id like `org-3f2a…`."""
    return f"{prefix}-{secrets.token_hex(12)}"
