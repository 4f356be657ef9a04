"""`/studio`: the web studio's static files (`easel/web/`), shipped in the package.

The studio is plain ES modules that call the public HTTP API with the key the
user signs in with; nothing is built at install. Every answer carries a
Content-Security-Policy that allows scripts, styles and connections from this
origin only (no inline script, no eval), so a prompt or an error message that
the studio displays can never run as code; the key lives in the tab's
sessionStorage, never in a cookie.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import PurePosixPath

from fastapi import APIRouter, Response

from easel.errors import NotFound

router = APIRouter(prefix="/studio", include_in_schema=False)

_WEB = files("easel") / "web"
_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        # generated images are shown and downloaded through blob: URLs
        "img-src 'self' blob: data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # a new easel version serves new files at the same paths
    "Cache-Control": "no-cache",
}


def asset(path: str) -> tuple[bytes, str]:
    """The bytes and media type of one studio file; anything else is a 404."""
    parts = PurePosixPath(path).parts
    media_type = _MEDIA_TYPES.get(PurePosixPath(path).suffix)
    if media_type is None or not parts or any(p in ("..", "/") or p.startswith(".") for p in parts):
        raise NotFound(f"The requested resource /studio/{path} was not found.")
    resource = _WEB.joinpath(*parts)
    if not resource.is_file():
        raise NotFound(f"The requested resource /studio/{path} was not found.")
    return resource.read_bytes(), media_type


def _serve(path: str) -> Response:
    data, media_type = asset(path)
    return Response(data, media_type=media_type, headers=SECURITY_HEADERS)


@router.get("")
@router.get("/")
async def studio_page() -> Response:
    return _serve("index.html")


@router.get("/{path:path}")
async def studio_file(path: str) -> Response:
    return _serve(path)
