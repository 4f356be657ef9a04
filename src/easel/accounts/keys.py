"""API key secrets: generation, hashing and the visible prefix.

Keys carry 288 bits of randomness, so a single SHA-256 is enough to store
them safely (a slow password hash would only slow every request down).
"""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "sk-"
VISIBLE_PREFIX_LENGTH = 10


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(36)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def visible_prefix(secret: str) -> str:
    return secret[:VISIBLE_PREFIX_LENGTH]
