"""Keeping secrets out of uvicorn's access log.

uvicorn logs each request's full path, query string included, so a client
that puts its key in `?api_key=sk-…` (or any token in a URL) would have it
written to the logs. The filter rewrites the path of every access record,
replacing the value of each query parameter whose name looks like a secret.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

# Parameter names that carry credentials: api_key, key, token, access_token,
# secret, password, auth, signature, X-Amz-Signature, …
_SECRET_NAME = re.compile(r"key|token|secret|pass|auth|sig|credential|session", re.IGNORECASE)
REDACTED = "REDACTED"


def redact_query(path: str) -> str:
    """`path` with the values of secret-looking query parameters replaced; a part
    that is not `name=value` (a bare token) is replaced whole."""
    base, sep, query = path.partition("?")
    if not query:
        return path
    parts = []
    for part in query.split("&"):
        name, equals, _value = part.partition("=")
        if not equals:
            parts.append(REDACTED if part else part)
        elif _SECRET_NAME.search(unquote_plus(name)):
            parts.append(f"{name}={REDACTED}")
        else:
            parts.append(part)
    return f"{base}{sep}" + "&".join(parts)


class RedactQueryFilter(logging.Filter):
    """For `uvicorn.access`, whose records carry (client, method, path, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_query(args[2]), *args[3:])
        return True


def install() -> None:
    logging.getLogger("uvicorn.access").addFilter(RedactQueryFilter())
