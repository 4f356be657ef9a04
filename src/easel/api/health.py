"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Response
from sqlalchemy import text

from easel.api.deps import AppServices
from easel.errors import Overloaded

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(services: AppServices) -> dict[str, str]:
    """The database answers and the engines in `[engine] preload` are loaded."""

    def ping() -> None:
        with services.db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    try:
        await anyio.to_thread.run_sync(ping)
    except Exception as exc:  # any driver error means "not ready"
        raise Overloaded(f"database: not reachable ({type(exc).__name__})") from exc
    if (loading := services.engines.not_ready()) is not None:
        raise Overloaded(loading)
    return {"status": "ready"}


@router.get("/metrics")
async def metrics(services: AppServices) -> Response:
    """Prometheus metrics."""
    return Response(services.metrics.render(), media_type=services.metrics.content_type)
