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
            Sweeper(self.jobs.sweep_expired, jobs.sweep_interval_seconds),
            # a dead worker's leases run out within lease_seconds; look twice as often
            Sweeper(self.jobs.recover_expired_leases, jobs.lease_seconds / 2),
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
    # one backend today; S3 joins here
    return LocalArtifactStore(settings.artifacts_dir)


def build_core(settings: Settings, *, engine_source: EngineSource | None = None) -> Core:
    """Build the core objects. `engine_source` replaces the engines jobs run on (tests)."""
    ledger = build_ledger(settings)
    db, billing = ledger.db, ledger.billing
    engines = build_engines(settings)
    artifacts = build_artifacts(settings)
    store = JobStore(db, billing)
    notifier = JobNotifier()
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
    executor = build_executor(settings, runner, store, LeaseKeeper(store, owner, lease))
    job_service = JobService(
        store=store,
        artifacts=artifacts,
        executor=executor,
        notifier=notifier,
        owner=owner,
        lease=lease,
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
