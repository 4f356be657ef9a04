"""The composition root: builds easel's core objects from settings.

The API (`api.app.create_app`), the admin CLI and a worker process all build
what they need here, so each implementation (storage, executor, engines) is
chosen from settings in one place. Nothing below this module reads settings:
each object receives the values it uses.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import anyio

from easel.accounts.key_usage import KeyUsageRecorder
from easel.accounts.principal_cache import PrincipalCache
from easel.accounts.service import AccountsService
from easel.admin.service import AdminService
from easel.background import Periodic
from easel.billing.service import BillingService
from easel.config import Settings
from easel.db import migrate
from easel.db.engine import Database, in_memory_sqlite
from easel.engines.base import EngineSource
from easel.engines.registry import EngineRegistry
from easel.generation.service import GenerationService, WorkDecoder
from easel.heap import freeze_long_lived
from easel.jobs.executors.base import Executor
from easel.jobs.executors.channel import Channel
from easel.jobs.executors.inprocess import InProcessExecutor
from easel.jobs.executors.processes import ProcessExecutor, spawn_workers
from easel.jobs.lease import LeaseKeeper
from easel.jobs.notify import ChangeHint, JobNotifier
from easel.jobs.runner import JobRunner
from easel.jobs.scheduler import FairScheduler, SchedulerLimits
from easel.jobs.service import JobService
from easel.jobs.store import JobStore, process_owner
from easel.jobs.worker import WorkerLoop
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
    # the local worker processes (jobs.executor = "local"); None: jobs run in this process
    workers: ProcessExecutor | None = None
    _sweepers: list[Periodic] = field(default_factory=list)

    async def start(self) -> None:
        """Migrate (if configured), settle jobs whose worker died, start executing."""
        if self.settings.database.migrate_on_start:
            migrate.upgrade(self.settings.database_url)
        await anyio.to_thread.run_sync(self.jobs.recover_expired_leases)
        preload = self.settings.engine.preload
        self.engines.check_preload(preload)  # a typo fails the start here, not in a worker
        await self.executor.start()
        if self.workers is None:
            # models named in [engine] preload load in the background; /readyz waits for them
            # (worker processes preload their own)
            self.engines.preload_in_background(preload)
        jobs = self.settings.jobs
        self._sweepers = [
            Periodic(self.jobs.sweep_expired, jobs.sweep_interval_seconds, name="easel-retention"),
            # a dead worker's leases run out within lease_seconds; look twice as often
            Periodic(
                self.jobs.recover_expired_leases, jobs.lease_seconds / 2, name="easel-recovery"
            ),
        ]
        for sweeper in self._sweepers:
            sweeper.start()
        self.key_usage.start()

    def not_ready(self) -> str | None:
        """Why generations cannot run yet (workers starting, models loading), else None."""
        if self.workers is not None:
            return self.workers.not_ready()
        return self.engines.not_ready()

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


def connect(settings: Settings) -> Database:
    database = settings.database
    return Database(
        settings.database_url,
        echo=database.echo,
        pool_size=database.pool_size,
        max_overflow=database.max_overflow,
    )


def build_ledger(settings: Settings) -> Ledger:
    db = connect(settings)
    key_usage = KeyUsageRecorder(db)
    accounts = AccountsService(
        db, key_usage=key_usage, principal_cache=PrincipalCache(settings.auth.cache_seconds)
    )
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
        fast=settings.fast_path,
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
    """Build the core objects. `engine_source` replaces the engines this process's runner
    uses (tests and benchmarks): the in-process executor's, or an `easel worker`'s
    (`build_celery_worker`); not the local executor's, whose worker processes build
    their own engines (a fake engine cannot cross into them)."""
    if engine_source is not None and settings.jobs.executor == "local":
        raise ValueError(
            'an injected engine_source needs jobs.executor = "inprocess" (or an easel worker)'
        )
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
        # while cancels reach this process over pub/sub (celery workers), the store is only
        # the fallback for a lost message; otherwise it is read after every step
        store_check_seconds=lambda: jobs.cancel_check_seconds if notifier.hears_cancels else 0.0,
        notify=notifier.notify,
    )
    executor = (
        build_celery_executor(settings, store, notifier, owner)
        if jobs.executor == "celery"
        else build_executor(
            settings, runner, store, LeaseKeeper(store, owner, lease), notify=notifier.notify
        )
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
        workers=executor if isinstance(executor, ProcessExecutor) else None,
    )


def build_executor(
    settings: Settings,
    runner: JobRunner,
    store: JobStore,
    leases: LeaseKeeper,
    *,
    notify: ChangeHint,
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
    if jobs.executor == "inprocess":
        return InProcessExecutor(scheduler, runner, store, leases, workers=jobs.workers)
    if in_memory_sqlite(settings.database_url):
        raise ValueError(
            'jobs.executor = "local": worker processes cannot share an in-memory SQLite '
            'database; use a database file (the default) or jobs.executor = "inprocess"'
        )
    return ProcessExecutor(
        scheduler,
        store,
        leases,
        devices=worker_devices(settings),
        start_worker=spawn_workers(functools.partial(run_worker, settings)),
        notify=notify,
    )


# -- local worker processes ------------------------------------------------------------


@dataclass
class Worker:
    """What a local worker process runs on: the job store, its device's engines, a runner."""

    db: Database
    store: JobStore
    engines: EngineRegistry
    runner: JobRunner
    leases: LeaseKeeper

    def close(self) -> None:
        self.engines.unload_all()
        self.db.dispose()


def build_worker(
    settings: Settings,
    device: str,
    *,
    notify: ChangeHint,
    engine_source: EngineSource | None = None,
) -> Worker:
    """Build a worker for `device` ("cuda:1", "cpu"); `notify` hears of every job change."""
    settings = settings.model_copy(
        update={"engine": settings.engine.model_copy(update={"device": device})}
    )
    db = connect(settings)
    store = JobStore(db, BillingService(db))
    engines = build_engines(settings)
    engines.after_load = freeze_long_lived  # a model lives as long as the process uses it
    jobs = settings.jobs
    owner = process_owner()
    lease = timedelta(seconds=jobs.lease_seconds)
    runner = JobRunner(
        store,
        build_artifacts(settings),
        engine_source or engines,
        WorkDecoder(TermClassifier(settings.safety.output_flag_terms)),
        owner=owner,
        lease=lease,
        progress_interval=jobs.progress_interval_seconds,
        notify=notify,
    )
    return Worker(db, store, engines, runner, LeaseKeeper(store, owner, lease))


def run_worker(settings: Settings, connection: Connection, device: str) -> None:
    """The main function of a local worker process (what `spawn` runs)."""
    # Ctrl-C reaches the whole process group; the API process stops its workers itself
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(
        level=settings.server.log_level.upper(),
        format=f"%(asctime)s %(levelname)s %(name)s [worker {device}] %(message)s",
    )
    channel = Channel(connection)
    loop: WorkerLoop

    def job_changed(job_id: str, *, still_open: bool = False) -> None:
        loop.job_changed(job_id, still_open=still_open)

    worker = build_worker(settings, device, notify=job_changed)
    freeze_long_lived()  # what startup made lives as long as the process
    loop = WorkerLoop(
        channel,
        worker.runner,
        worker.store,
        worker.leases,
        preload=lambda: worker.engines.preload_in_background(settings.engine.preload),
        not_ready=worker.engines.not_ready,
        # the API process died: exit now; the leases expire and recovery settles the jobs
        orphaned=lambda: os._exit(1),
    )
    try:
        loop.serve()
    finally:
        worker.close()


def worker_devices(settings: Settings) -> list[str]:
    """The devices of the local worker processes, one entry per process."""
    jobs = settings.jobs
    devices = list(jobs.devices) or _detected_devices(settings.engine.device)
    return [device for device in devices for _ in range(jobs.processes_per_device)]


def _detected_devices(configured: str) -> list[str]:
    if configured != "auto":
        return [configured]
    if not any(Path("/dev").glob("nvidia[0-9]*")):
        # no NVIDIA device: the CPU on Linux; elsewhere the worker resolves "auto" (Apple MPS)
        return ["cpu"] if sys.platform.startswith("linux") else ["auto"]
    # Count the CUDA devices torch sees in a throwaway interpreter: torch stays out of
    # the API process (hundreds of MB), and CUDA_VISIBLE_DEVICES and CPU-only wheels count.
    probe = subprocess.run(
        [sys.executable, "-c", _CUDA_PROBE], capture_output=True, text=True, timeout=300
    )
    count = int(probe.stdout.strip() or 0) if probe.returncode == 0 else 0
    return [f"cuda:{index}" for index in range(count)] or ["cpu"]


_CUDA_PROBE = """
try:
    import torch
    print(torch.cuda.device_count())
except ImportError:
    print(0)
"""


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


def build_celery_worker(settings: Settings, *, engine_source: EngineSource | None = None) -> Any:
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
    core.engines.after_load = freeze_long_lived  # a model lives as long as the worker uses it
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
