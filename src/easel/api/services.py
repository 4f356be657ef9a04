"""The services one app instance runs with, built once by `create_app`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import Scope

from easel.accounts.service import AccountsService
from easel.admin.service import AdminService
from easel.api.metrics import Metrics
from easel.billing.service import BillingService
from easel.config import Settings
from easel.db.engine import Database
from easel.engines.registry import EngineRegistry
from easel.generation.service import GenerationService
from easel.jobs.service import JobService
from easel.ratelimit import RateLimiter
from easel.ratelimit.bucket import TokenBuckets
from easel.usage.service import UsageService

# Called after each request with (scope, status, latency seconds); writes the request log.
RequestRecorder = Callable[[Scope, int, float], None]

# The request-scope key under which an app instance hands its services to the shared routes.
SERVICES_SCOPE_KEY = "easel.services"


@dataclass
class Services:
    settings: Settings
    db: Database
    accounts: AccountsService
    billing: BillingService
    engines: EngineRegistry
    jobs: JobService
    generation: GenerationService
    admin: AdminService
    rate_limiter: RateLimiter | None
    metrics: Metrics
    # failed authentications per client address; None: not limited
    auth_failures: TokenBuckets | None = None
    # why generations cannot run yet (workers starting, models loading), else None
    not_ready: Callable[[], str | None] = lambda: None
    # writes each request to the request log; None: not recorded
    record_request: RequestRecorder | None = None
    # the request log itself (its rows are written in batches)
    usage: UsageService | None = None
