"""The API's composition root: `create_app(settings)` builds the core (see `easel.wiring`),
the HTTP-only services (rate limiter, metrics, request log) and the app."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import Scope

from easel import __version__
from easel.accounts.models import Principal
from easel.api import health, openapi, studio
from easel.api.admin import organizations as admin_organizations
from easel.api.docs import install_docs
from easel.api.errors import install_error_handlers
from easel.api.metrics import Metrics
from easel.api.middleware import RequestContextMiddleware
from easel.api.services import Services
from easel.api.v1 import engines as v1_engines
from easel.api.v1 import generation as v1_generation
from easel.api.v1 import jobs as v1_jobs
from easel.api.v1 import keys as v1_keys
from easel.api.v1 import user as v1_user
from easel.api.v2beta import control as v2beta_control
from easel.api.v2beta import edit as v2beta_edit
from easel.api.v2beta import results as v2beta_results
from easel.api.v2beta import stable_image as v2beta_stable_image
from easel.api.v2beta import three_d as v2beta_three_d
from easel.api.v2beta import video as v2beta_video
from easel.bootstrap import bootstrap_admin
from easel.config import AuthLimitSettings, RateLimitSettings, Settings
from easel.engines.base import EngineSource
from easel.ratelimit import RateLimiter, RateLimitPolicy
from easel.ratelimit.bucket import TokenBuckets
from easel.usage.service import RequestRecord, UsageService
from easel.wiring import build_core

log = logging.getLogger("easel")


def build_rate_limiter(
    settings: RateLimitSettings, clock: Callable[[], float]
) -> RateLimiter | None:
    if not settings.enabled:
        return None
    policy = RateLimitPolicy(
        requests=settings.requests,
        window_seconds=settings.window_seconds,
        lockout_seconds=settings.lockout_seconds,
    )
    if settings.backend == "redis":
        from easel.ratelimit.redis import RedisRateLimiter

        return RedisRateLimiter(policy, url=settings.redis_url, clock=clock)
    from easel.ratelimit.memory import MemoryRateLimiter

    return MemoryRateLimiter(policy, clock=clock)


def build_auth_limit(
    settings: AuthLimitSettings, clock: Callable[[], float]
) -> TokenBuckets | None:
    return (
        TokenBuckets(settings.burst, settings.per_second, clock=clock) if settings.enabled else None
    )


def create_app(
    settings: Settings,
    *,
    clock: Callable[[], float] = time.time,
    engine_source: EngineSource | None = None,
) -> FastAPI:
    """Build the easel app. `clock` drives the rate limiter and `engine_source` replaces
    the engines jobs run on (tests inject both)."""
    core = build_core(settings, engine_source=engine_source)
    db = core.db
    services = Services(
        settings=settings,
        db=db,
        accounts=core.accounts,
        billing=core.billing,
        engines=core.engines,
        jobs=core.jobs,
        generation=core.generation,
        admin=core.admin,
        rate_limiter=build_rate_limiter(settings.rate_limit, clock),
        metrics=Metrics(),
        auth_failures=build_auth_limit(settings.auth_limit, clock),
        not_ready=core.not_ready,
    )
    log_budget = settings.request_log
    usage = UsageService(
        db,
        unauthenticated=TokenBuckets(
            log_budget.unauthenticated_burst, log_budget.unauthenticated_per_second, clock=clock
        ),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await core.start()
        try:
            if settings.server.bootstrap:
                created = bootstrap_admin(
                    services.accounts,
                    services.billing,
                    email=settings.server.bootstrap_email,
                    credits=settings.server.bootstrap_credits,
                )
                if created is not None:
                    _announce_bootstrap_key(created.secret, settings.server.bootstrap_email)
            yield
        finally:
            if services.rate_limiter is not None:
                await services.rate_limiter.aclose()
            await core.stop()

    app = FastAPI(
        title="easel",
        version=__version__,
        description="A self-hosted implementation of the Stability AI REST API.",
        lifespan=lifespan,
        # /docs is served with local assets by install_docs; ReDoc would need a CDN
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = services
    install_error_handlers(app)
    install_docs(app)
    openapi.install(app)
    for router in (
        health.router,
        v1_user.router,
        v1_keys.router,
        v1_engines.router,
        v1_generation.router,
        v1_jobs.router,
        v2beta_stable_image.router,
        v2beta_edit.router,
        v2beta_results.router,
        v2beta_video.router,
        v2beta_three_d.router,
        v2beta_control.router,
        admin_organizations.router,
        studio.router,
    ):
        app.include_router(router)

    def record(scope: Scope, status: int, seconds: float) -> None:
        state = scope.get("state", {})
        principal: Principal | None = state.get("principal")
        headers = dict(scope.get("headers", []))
        usage.record(
            RequestRecord(
                request_id=state.get("request_id", ""),
                method=scope["method"],
                route=str(getattr(scope.get("route"), "path", scope["path"])),
                status=status,
                latency_ms=seconds * 1000,
                api_key_id=principal.api_key_id if principal else None,
                organization_id=principal.organization_id if principal else None,
                client_id=_header(headers, b"stability-client-id"),
                client_version=_header(headers, b"stability-client-version"),
                credits_milli=int(state.get("credits_milli", 0)),
            )
        )

    app.add_middleware(
        RequestContextMiddleware,
        metrics=services.metrics,
        max_body_bytes=int(settings.server.max_body_mb * 1024 * 1024),
        body_timeout_seconds=settings.server.body_timeout_seconds,
        record=record,
    )
    return app


def _header(headers: dict[bytes, bytes], name: bytes) -> str | None:
    value = headers.get(name)
    return value.decode("latin-1") if value is not None else None


def _announce_bootstrap_key(secret: str, email: str) -> None:
    # Printed once on stdout (not the log) so a first-time user sees it; never stored.
    print(
        f"\neasel: first start — created admin user {email}, a default organization and an "
        f"API key.\neasel: API key (shown once, keep it safe): {secret}\n",
        file=sys.stdout,
        flush=True,
    )
