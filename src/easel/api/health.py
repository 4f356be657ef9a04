"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import hmac

import anyio
from fastapi import APIRouter, Request, Response
from sqlalchemy import text

from easel.api.deps import AppServices, api_key_from_header
from easel.api.openapi import error_responses
from easel.errors import Overloaded, Unauthorized

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses=error_responses(503))
async def readyz(services: AppServices) -> dict[str, str]:
    """The database answers, the workers are up and the engines in `[engine] preload` loaded."""

    def ping() -> None:
        with services.db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    try:
        await anyio.to_thread.run_sync(ping)
    except Exception as exc:  # any driver error means "not ready"
        raise Overloaded(f"database: not reachable ({type(exc).__name__})") from exc
    if (loading := services.not_ready()) is not None:
        raise Overloaded(loading)
    return {"status": "ready"}


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request, services: AppServices) -> Response:
    """Prometheus metrics (behind a bearer token when `server.metrics_token` is set)."""
    token = services.settings.server.metrics_token
    if token is not None:
        given = api_key_from_header(request.headers.get("authorization"))
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise Unauthorized("authorization: not the metrics token")
    return Response(services.metrics.render(), media_type=services.metrics.content_type)
