"""The API's composition root: `create_app(settings)` builds the core (see `easel.wiring`),
the HTTP-only services (rate limiter, metrics, request log) and the app."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from easel.accounts.models import Principal
from easel.api.metrics import Metrics
from easel.api.routes import routes_app
from easel.api.services import SERVICES_SCOPE_KEY, Services
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
) -> EaselApp:
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
    usage = services.usage = UsageService(
        db,
        unauthenticated=TokenBuckets(
            log_budget.unauthenticated_burst, log_budget.unauthenticated_per_second, clock=clock
        ),
        interval=log_budget.flush_seconds,
    )

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await core.start()
        usage.start()
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
            await anyio.to_thread.run_sync(usage.close)
            await core.stop()

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

    services.record_request = record
    return EaselApp(services, lifespan=lifespan)


class EaselApp(Starlette):
    """One easel server: its services and lifespan around the process's shared routes
    (`easel.api.routes`), which find the services in the request scope."""

    def __init__(self, services: Services, *, lifespan: Any) -> None:
        super().__init__(lifespan=lifespan)
        self._routes = routes_app()
        self.state.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await super().__call__(scope, receive, send)
            return
        # Straight to the routes (a Mount's path pattern would miss paths holding a
        # newline and answer Starlette's plain-text 404).
        scope[SERVICES_SCOPE_KEY] = self.state.services
        await self._routes(scope, receive, send)

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI document (`/openapi.json`)."""
        return routes_app().openapi()


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
