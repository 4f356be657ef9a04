"""The composition root: builds easel's core objects from settings.

The API (`api.app.create_app`), the admin CLI and a worker process all build
what they need here, so each implementation (storage, executor, engines) is
chosen from settings in one place. Nothing below this module reads settings:
each object receives the values it uses.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import anyio

from easel.accounts.key_usage import KeyUsageRecorder
from easel.accounts.service import AccountsService
from easel.admin.service import AdminService
from easel.billing.service import BillingService
from easel.config import Settings
from easel.db import migrate
from easel.db.engine import Database
from easel.engines.base import EngineSource
from easel.engines.registry import EngineRegistry
from easel.generation.service import GenerationService, WorkDecoder
from easel.jobs.executors.base import Executor
from easel.jobs.executors.inprocess import InProcessExecutor
from easel.jobs.lease import LeaseKeeper
from easel.jobs.notify import JobNotifier
from easel.jobs.runner import JobRunner
from easel.jobs.scheduler import FairScheduler, SchedulerLimits
from easel.jobs.service import JobService
from easel.jobs.store import JobStore, process_owner
from easel.jobs.sweeper import Sweeper
from easel.safety.outputs import TermClassifier
from easel.safety.prompts import PromptFilter
from easel.storage.base import ArtifactStore
from easel.storage.local import LocalArtifactStore

log = logging.getLogger("easel")


@dataclass
class Core:
    """Everything a process of easel's runs on, built from one `Settings`."""

    settings: Settings
    db: Database
    accounts: AccountsService
    billing: BillingService
    engines: EngineRegistry
    artifacts: ArtifactStore
    store: JobStore
    notifier: JobNotifier
    runner: JobRunner
    executor: Executor
    jobs: JobService
    generation: GenerationService
    key_usage: KeyUsageRecorder
    admin: AdminService
    _sweepers: list[Sweeper] = field(default_factory=list)

    async def start(self) -> None:
        """Migrate (if configured), settle jobs whose worker died, start executing."""
        if self.settings.database.migrate_on_start:
            migrate.upgrade(self.settings.database_url)
        await anyio.to_thread.run_sync(self.jobs.recover_expired_leases)
        await self.executor.start()
        # models named in [engine] preload load in the background; /readyz waits for them
        self.engines.preload_in_background(self.settings.engine.preload)
        jobs = self.settings.jobs
        self._sweepers = [
            Sweeper(self.jobs.sweep_expired, jobs.sweep_interval_seconds, name="easel-retention"),
            # a dead worker's leases run out within lease_seconds; look twice as often
            Sweeper(
                self.jobs.recover_expired_leases, jobs.lease_seconds / 2, name="easel-recovery"
            ),
        ]
        for sweeper in self._sweepers:
            sweeper.start()
        self.key_usage.start()

    async def stop(self) -> None:
        await anyio.to_thread.run_sync(self.key_usage.close)
        for sweeper in self._sweepers:
            await anyio.to_thread.run_sync(sweeper.stop)
        await self.executor.stop()
        self.db.dispose()


@dataclass
class Ledger:
    """The database with accounts and credits: all the admin CLI needs."""

    db: Database
    accounts: AccountsService
    billing: BillingService
    # batches API keys' last-used times off the request path (started by Core)
    key_usage: KeyUsageRecorder
    admin: AdminService


def build_ledger(settings: Settings) -> Ledger:
    db = Database(settings.database_url, echo=settings.database.echo)
    key_usage = KeyUsageRecorder(db)
    accounts = AccountsService(db, key_usage=key_usage)
    billing = BillingService(db)
    return Ledger(
        db=db,
        accounts=accounts,
        billing=billing,
        key_usage=key_usage,
        admin=AdminService(accounts, billing),
    )


def build_engines(settings: Settings) -> EngineRegistry:
    return EngineRegistry(
        settings.engines,
        data_dir=settings.models_dir,
        device=settings.engine.device,
        dtype=settings.engine.dtype,
        memory_budget_mb=settings.engine.memory_budget_mb,
    )


def build_artifacts(settings: Settings) -> ArtifactStore:
    storage = settings.storage
    if storage.backend == "s3":
        from easel.storage.s3 import S3ArtifactStore

        s3 = S3ArtifactStore(
            bucket=storage.s3_bucket,
            prefix=storage.s3_prefix,
            endpoint_url=storage.s3_endpoint_url,
            region=storage.s3_region,
        )
        if storage.s3_lifecycle_days is not None:
            s3.ensure_lifecycle(storage.s3_lifecycle_days)
        return s3
    return LocalArtifactStore(settings.artifacts_dir)


def build_notifier(settings: Settings) -> JobNotifier:
    """In-process wake-ups; with workers on other hosts, Redis pub/sub."""
    if settings.jobs.executor == "celery":
        from easel.jobs.redis_notifier import RedisJobNotifier

        return RedisJobNotifier(settings.celery.redis_url)
    return JobNotifier()


def queued_lease(settings: Settings, lease: timedelta) -> timedelta:
    """How long a new job may wait: with celery the broker holds it, not this process."""
    if settings.jobs.executor == "celery":
        return timedelta(seconds=settings.celery.max_queued_seconds)
    return lease


def build_core(settings: Settings, *, engine_source: EngineSource | None = None) -> Core:
    """Build the core objects. `engine_source` replaces the engines jobs run on (tests)."""
    ledger = build_ledger(settings)
    db, billing = ledger.db, ledger.billing
    engines = build_engines(settings)
    artifacts = build_artifacts(settings)
    store = JobStore(db, billing)
    notifier = build_notifier(settings)
    jobs = settings.jobs
    owner = process_owner()
    lease = timedelta(seconds=jobs.lease_seconds)
    runner = JobRunner(
        store,
        artifacts,
        engine_source or engines,
        WorkDecoder(TermClassifier(settings.safety.output_flag_terms)),
        owner=owner,
        lease=lease,
        progress_interval=jobs.progress_interval_seconds,
        notify=notifier.notify,
    )
    executor = (
        build_celery_executor(settings, store, notifier, owner)
        if jobs.executor == "celery"
        else build_executor(settings, runner, store, LeaseKeeper(store, owner, lease))
    )
    job_service = JobService(
        store=store,
        artifacts=artifacts,
        executor=executor,
        notifier=notifier,
        owner=owner,
        lease=queued_lease(settings, lease),
        retention=timedelta(hours=jobs.retention_hours),
    )
    return Core(
        settings=settings,
        db=db,
        accounts=ledger.accounts,
        billing=billing,
        engines=engines,
        artifacts=artifacts,
        store=store,
        notifier=notifier,
        runner=runner,
        executor=executor,
        jobs=job_service,
        generation=GenerationService(
            engines=engines,
            jobs=job_service,
            prompt_filter=PromptFilter(settings.safety.blocked_terms),
        ),
        key_usage=ledger.key_usage,
        admin=ledger.admin,
    )


def build_executor(
    settings: Settings, runner: JobRunner, store: JobStore, leases: LeaseKeeper
) -> Executor:
    jobs = settings.jobs
    scheduler = FairScheduler(
        SchedulerLimits(
            max_queued=jobs.max_queued,
            max_queued_per_org=jobs.max_queued_per_org,
            max_running_per_org=jobs.max_running_per_org,
            max_batch_size=jobs.max_batch_size if jobs.batching else 1,
        )
    )
    return InProcessExecutor(scheduler, runner, store, leases, workers=jobs.workers)


# -- the celery executor and `easel worker` (celery is imported only here, lazily) ------------


def _celery_parts(settings: Settings) -> tuple[Any, Any, Any]:
    import redis

    from easel.jobs.batch_index import BatchIndex
    from easel.jobs.executors.celery import CeleryOptions, make_celery

    jobs, celery = settings.jobs, settings.celery
    options = CeleryOptions(
        broker_url=celery.broker_url,
        queue=celery.queue,
        visibility_timeout_seconds=celery.visibility_timeout_seconds,
        max_batch_size=jobs.max_batch_size if jobs.batching else 1,
    )
    batches = BatchIndex(
        redis.Redis.from_url(celery.redis_url, socket_timeout=2, socket_connect_timeout=2),
        ttl_seconds=celery.max_queued_seconds,
    )
    return options, make_celery(options), batches


def build_celery_executor(
    settings: Settings, store: JobStore, notifier: JobNotifier, owner: str
) -> Executor:
    from easel.jobs.executors.celery import CeleryExecutor
    from easel.jobs.redis_notifier import RedisJobNotifier

    assert isinstance(notifier, RedisJobNotifier)
    options, app, batches = _celery_parts(settings)
    return CeleryExecutor(app, options, store, notifier, batches, owner=owner)


def build_worker(settings: Settings, *, engine_source: EngineSource | None = None) -> Any:
    """`easel worker`: a celery worker running jobs with this core's runner and leases.

    Returns a `CeleryWorker` (typed loosely so that importing wiring never imports celery).
    """
    from easel.jobs.executors.celery import CeleryWorker, JobConsumer
    from easel.jobs.redis_notifier import RedisJobNotifier

    if settings.jobs.executor != "celery":
        raise ValueError(
            "easel worker consumes the celery executor's queue: set jobs.executor = celery "
            "(EASEL_JOBS__EXECUTOR=celery), a PostgreSQL database.url and celery.broker_url"
        )
    core = build_core(settings, engine_source=engine_source)
    notifier = core.notifier
    assert isinstance(notifier, RedisJobNotifier)
    options, app, batches = _celery_parts(settings)
    consumer = JobConsumer(core.runner, core.store, batches, max_batch_size=options.max_batch_size)
    leases = LeaseKeeper(
        core.store, core.runner.owner, timedelta(seconds=settings.jobs.lease_seconds)
    )
    return CeleryWorker(
        app,
        options,
        consumer,
        notifier,
        leases,
        hostname=f"easel@{core.runner.owner}",
        preload=lambda: core.engines.preload(settings.engine.preload),
    )
