"""The composition root: `create_app(settings)` builds every service and the app."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

import anyio
from fastapi import FastAPI
from starlette.types import Scope

from easel import __version__
from easel.accounts.bootstrap import bootstrap_admin
from easel.accounts.models import Principal
from easel.accounts.service import AccountsService
from easel.api import health
from easel.api.errors import install_error_handlers
from easel.api.metrics import Metrics
from easel.api.middleware import RequestContextMiddleware
from easel.api.services import Services
from easel.api.v1 import engines as v1_engines
from easel.api.v1 import generation as v1_generation
from easel.api.v1 import jobs as v1_jobs
from easel.api.v1 import user as v1_user
from easel.billing.service import BillingService
from easel.config import RateLimitSettings, Settings
from easel.db import migrate
from easel.db.engine import Database
from easel.engines.registry import EngineRegistry
from easel.jobs.executors.local import LocalExecutor
from easel.jobs.notify import JobNotifier
from easel.jobs.runner import JobRunner
from easel.jobs.scheduler import FairScheduler, SchedulerLimits
from easel.jobs.service import JobService
from easel.jobs.store import JobStore, process_owner
from easel.jobs.sweeper import Sweeper
from easel.ratelimit import RateLimiter, RateLimitPolicy
from easel.safety.prompts import PromptFilter
from easel.storage.local import LocalArtifactStore
from easel.usage.service import RequestRecord, UsageService

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


def build_jobs(
    settings: Settings, db: Database, billing: BillingService, engines: EngineRegistry
) -> tuple[LocalExecutor, JobService]:
    """The job layer: store, artifacts, scheduler, executor and the service over them."""
    store = JobStore(db, billing)
    artifacts = LocalArtifactStore(settings.server.data_dir / "artifacts")
    notifier = JobNotifier()
    jobs = settings.jobs
    scheduler = FairScheduler(
        SchedulerLimits(
            max_queued=jobs.max_queued,
            max_queued_per_org=jobs.max_queued_per_org,
            max_running_per_org=jobs.max_running_per_org,
            max_batch_size=jobs.max_batch_size if jobs.batching else 1,
        )
    )
    runner = JobRunner(
        store,
        artifacts,
        engines,
        progress_interval=jobs.progress_interval_seconds,
        notify=notifier.notify,
    )
    executor = LocalExecutor(scheduler, runner, store, workers=jobs.workers)
    service = JobService(
        engines=engines,
        billing=billing,
        store=store,
        artifacts=artifacts,
        executor=executor,
        notifier=notifier,
        prompt_filter=PromptFilter(settings.safety.blocked_terms),
        owner=process_owner(),
        retention=timedelta(hours=jobs.retention_hours),
    )
    return executor, service


def create_app(settings: Settings, *, clock: Callable[[], float] = time.time) -> FastAPI:
    """Build the easel app. `clock` drives the rate limiter (tests move it)."""
    db = Database(settings.database_url, echo=settings.database.echo)
    billing = BillingService(db)
    engines = EngineRegistry(
        settings.engines,
        data_dir=settings.models_dir,
        device=settings.engine.device,
        dtype=settings.engine.dtype,
        memory_budget_mb=settings.engine.memory_budget_mb,
    )
    executor, job_service = build_jobs(settings, db, billing, engines)
    services = Services(
        settings=settings,
        db=db,
        accounts=AccountsService(db),
        billing=billing,
        engines=engines,
        jobs=job_service,
        rate_limiter=build_rate_limiter(settings.rate_limit, clock),
        metrics=Metrics(),
    )
    usage = UsageService(db)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.database.migrate_on_start:
            migrate.upgrade(settings.database_url)
        if settings.server.bootstrap:
            created = bootstrap_admin(
                services.accounts,
                services.billing,
                email=settings.server.bootstrap_email,
                credits=settings.server.bootstrap_credits,
            )
            if created is not None:
                _announce_bootstrap_key(created.secret, settings.server.bootstrap_email)
        await anyio.to_thread.run_sync(job_service.recover_orphans)
        await executor.start()
        engines.preload_in_background(settings.engine.preload)  # /readyz waits for it
        sweeper = Sweeper(job_service.sweep_expired, settings.jobs.sweep_interval_seconds)
        sweeper.start()
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(sweeper.stop)
            await executor.stop()
            if services.rate_limiter is not None:
                await services.rate_limiter.aclose()
            db.dispose()

    app = FastAPI(
        title="easel",
        version=__version__,
        description="A self-hosted implementation of the Stability AI REST API.",
        lifespan=lifespan,
    )
    app.state.services = services
    install_error_handlers(app)
    for router in (
        health.router,
        v1_user.router,
        v1_engines.router,
        v1_generation.router,
        v1_jobs.router,
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
