"""Settings: one sub-model per area, read from `EASEL_*` variables and `easel.toml`.

Only the composition roots (`easel.wiring`, `api.app.create_app`, the CLI)
read settings; everything below receives the sub-config it uses.
Environment variables are `EASEL_<AREA>__<FIELD>`, e.g.
`EASEL_DATABASE__URL`; the TOML file has one table per area.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from easel.engines.base import EngineSpec
from easel.engines.catalog import default_engines
from easel.engines.fastpath import FastPathSettings


class ServerSettings(BaseModel):
    host: str = Field(default="127.0.0.1", description="Interface the HTTP server listens on")
    port: int = Field(default=8000, ge=0, le=65535, description="TCP port of the HTTP server")
    data_dir: Path = Field(
        default=Path(".easel"),
        description="Directory for the SQLite database, artifacts and sandbox models",
    )
    bootstrap: bool = Field(
        default=True,
        description="On first start, create an admin user, a default organization and an "
        "API key, and print the key once",
    )
    bootstrap_email: str = Field(
        # A dotted, non-reserved domain: email validators (pydantic's EmailStr) refuse
        # `localhost` and special-use names such as `.local` and `.test`.
        default="admin@easel.example",
        description="Email of the bootstrap admin user",
    )
    bootstrap_credits: float = Field(
        default=1000.0, ge=0, description="Credits granted to the bootstrap organization"
    )
    max_body_mb: float = Field(
        default=10.0, gt=0, description="Largest accepted request body, in MiB (Stability: 10)"
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Log level of the easel and uvicorn loggers"
    )
    header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="A connection whose request line and headers have not all arrived this "
        "long after it opened (or after its first byte, on a kept-alive connection) is closed",
    )
    body_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A request body not fully received this long after its headers is "
        "answered 408 request_timeout and its connection closed",
    )
    keep_alive_seconds: float = Field(
        default=5.0, gt=0, description="Idle keep-alive connections are closed after this long"
    )
    max_connections: int = Field(
        default=1000,
        ge=1,
        description="Open connections at most: one more is closed as soon as it is accepted, "
        "and a request arriving while this many are open is answered 503",
    )
    metrics_token: str | None = Field(
        default=None,
        description="When set, /metrics requires 'Authorization: Bearer <token>' (none: open)",
    )


class DatabaseSettings(BaseModel):
    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default is a SQLite file in data_dir "
        "(e.g. postgresql+psycopg://user@127.0.0.1/easel for production)",
    )
    migrate_on_start: bool = Field(
        default=True, description="Apply Alembic migrations when the server starts"
    )
    echo: bool = Field(default=False, description="Log every SQL statement")
    pool_size: int = Field(
        default=20,
        ge=1,
        description="Connections each process keeps open; cover the concurrent requests "
        "of an API process (PostgreSQL's max_connections must cover every process's "
        "pool_size + max_overflow)",
    )
    max_overflow: int = Field(
        default=20, ge=0, description="Connections a process may open beyond pool_size"
    )


class RateLimitSettings(BaseModel):
    enabled: bool = Field(default=True, description="Enforce the per-key rate limit")
    backend: Literal["memory", "redis"] = Field(
        default="memory",
        description="memory: one process; redis: shared by several API processes",
    )
    requests: int = Field(default=150, gt=0, description="Requests allowed per window per key")
    window_seconds: float = Field(default=10.0, gt=0, description="Length of the window")
    lockout_seconds: float = Field(
        default=60.0, ge=0, description="How long a key is refused after exceeding the limit"
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0", description="Redis URL for the redis backend"
    )


class AuthSettings(BaseModel):
    cache_seconds: float = Field(
        default=1.0,
        ge=0,
        description="How long an API process reuses a key's authentication; a key revoked "
        "through another process keeps working here this long (0: look up every request)",
    )


class AuthLimitSettings(BaseModel):
    enabled: bool = Field(
        default=True,
        description="Refuse a client address with 429 after repeated failed authentication",
    )
    burst: int = Field(
        default=20, ge=1, description="Failed authentications a client address may make at once"
    )
    per_second: float = Field(
        default=1.0,
        gt=0,
        description="Failed authentications a client address earns back per second",
    )


class RequestLogSettings(BaseModel):
    unauthenticated_burst: int = Field(
        default=100,
        ge=1,
        description="Request-log rows written at once for requests without a valid key",
    )
    unauthenticated_per_second: float = Field(
        default=1.0,
        gt=0,
        description="Request-log rows per second, after the burst, for requests without a "
        "valid key; the rest are only counted in /metrics",
    )
    flush_seconds: float = Field(
        default=1.0,
        gt=0,
        description="How often queued request-log rows are written, in one statement (a "
        "crash loses at most this much of the log)",
    )


class EngineSettings(BaseModel):
    device: str = Field(
        default="auto", description="Torch device: auto (CUDA if present, else CPU), cpu, cuda:0"
    )
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field(
        default="auto", description="Weights dtype: auto = float16 on CUDA, float32 on CPU"
    )
    models_dir: Path | None = Field(
        default=None,
        description="Where sandbox models are built and cached (default: <data_dir>/models)",
    )
    memory_budget_mb: int | None = Field(
        default=None,
        gt=0,
        description="Evict least-recently-used models above this many MiB (none: no limit)",
    )
    preload: list[str] = Field(
        default_factory=list,
        description="Engine ids whose models load when the server starts, in the background; "
        "/readyz answers 503 until they are loaded (JSON list in the environment)",
    )
    fast: FastPathSettings = Field(
        default_factory=FastPathSettings,
        description="The diffusers engines' CUDA fast path, each part switchable (see the "
        "rows below; auto: on on CUDA, off elsewhere)",
    )


class SafetySettings(BaseModel):
    blocked_terms: list[str] = Field(
        default_factory=list,
        description="Prompts containing any of these words are refused with invalid_prompts "
        "(v1: 400, v2beta: 422) and not charged (JSON list in the environment)",
    )
    output_flag_terms: list[str] = Field(
        default_factory=list,
        description="Sandbox output classifier (a deterministic stub): images made from prompts "
        "containing any of these words come back blurred with finish reason CONTENT_FILTERED "
        "(JSON list in the environment)",
    )


class StorageSettings(BaseModel):
    backend: Literal["local", "s3"] = Field(
        default="local",
        description="Where input and output images live: local (a directory) or s3 (an "
        "S3-compatible bucket, shared by every API process and worker; needs easel[s3])",
    )
    local_dir: Path | None = Field(
        default=None,
        description="Directory of the local artifact store (default: <data_dir>/artifacts)",
    )
    s3_bucket: str = Field(default="easel", description="Bucket of the s3 backend")
    s3_prefix: str = Field(
        default="", description="Key prefix inside the bucket (e.g. prod/), for a shared bucket"
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        description="Endpoint of an S3-compatible store (MinIO, moto, R2); none: AWS. "
        "Credentials come from the standard AWS chain (AWS_ACCESS_KEY_ID, ~/.aws, roles)",
    )
    s3_region: str | None = Field(
        default=None, description="Region of the bucket (none: the AWS chain's default)"
    )
    s3_lifecycle_days: int | None = Field(
        default=None,
        ge=1,
        description="When set, easel installs a bucket lifecycle rule at start that deletes "
        "objects under the prefix this many days after they were written (a backstop for the "
        "retention sweep; keep it above jobs.retention_hours)",
    )


class JobSettings(BaseModel):
    executor: Literal["local", "inprocess", "celery"] = Field(
        default="local",
        description="local: one worker process per device runs the generations, the API "
        "process keeps the queue; inprocess: worker threads of the API process (tests, "
        "tiny deployments); celery: queue them on a broker for `easel worker` processes "
        "on any host (needs PostgreSQL)",
    )
    devices: list[str] = Field(
        default_factory=list,
        description="local executor: the devices that get worker processes (JSON list, e.g. "
        '["cuda:0","cuda:1"]); empty: [engine] device when set, else every CUDA '
        "device, else the CPU",
    )
    processes_per_device: int = Field(
        default=1, ge=1, description="local executor: worker processes on each device"
    )
    lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long a worker holds a job without renewing its lease; a job whose "
        "lease expired is failed and its credits released",
    )
    workers: int = Field(
        default=1,
        ge=1,
        description="inprocess executor: worker threads running batches at once in the API process",
    )
    batching: bool = Field(
        default=True,
        description="Run compatible queued jobs (same engine, kind, size, steps, sampler, "
        "guidance) as one pipeline call",
    )
    max_batch_size: int = Field(default=4, ge=1, description="Most jobs in one batch")
    max_queued: int = Field(
        default=1000, ge=1, description="Queued jobs in this process; more get 503"
    )
    max_queued_per_org: int = Field(
        default=200, ge=1, description="Queued jobs per organization; more get 429"
    )
    max_running_per_org: int = Field(
        default=2, ge=1, description="Jobs of one organization running at once"
    )
    retention_hours: float = Field(
        default=24.0, gt=0, description="Results and artifacts are deleted after this long"
    )
    sweep_interval_seconds: float = Field(
        default=300.0, gt=0, description="How often expired jobs are deleted"
    )
    progress_interval_seconds: float = Field(
        default=0.5, ge=0, description="Least time between stored progress updates of a job"
    )
    cancel_check_seconds: float = Field(
        default=1.0,
        ge=0,
        description="celery executor: least time between a running job's store reads for a "
        "cancel while Redis pub/sub brings cancels at once (the read is the fallback for a lost "
        "message; with Redis down, every step reads)",
    )


class CelerySettings(BaseModel):
    broker_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        description="Broker of the celery executor: redis://… or amqp://… (RabbitMQ)",
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        description="Redis for job progress and cancel (pub/sub) and batch forming, whatever "
        "the broker",
    )
    queue: str = Field(default="easel", description="Name of the broker queue of jobs")
    visibility_timeout_seconds: float = Field(
        default=7200.0,
        gt=0,
        description="Redis broker: an unacknowledged job message is redelivered after this "
        "long; keep it longer than the longest job",
    )
    max_queued_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="A job no worker started within this long is failed and its credits "
        "released (a lost broker message, or no workers)",
    )


class GenerationSettings(BaseModel):
    max_input_pixels: int = Field(
        default=16_777_216,
        gt=0,
        description="Largest uploaded image, in pixels; larger ones are refused with 400",
    )


class Settings(BaseSettings):
    """All of easel's settings. Every default works on a fresh laptop."""

    model_config = SettingsConfigDict(
        env_prefix="EASEL_",
        env_nested_delimiter="__",
        toml_file="easel.toml",
        extra="forbid",
    )

    server: ServerSettings = Field(default_factory=ServerSettings, description="HTTP server")
    database: DatabaseSettings = Field(
        default_factory=DatabaseSettings, description="Database connection"
    )
    rate_limit: RateLimitSettings = Field(
        default_factory=RateLimitSettings, description="Per-key rate limit"
    )
    auth: AuthSettings = Field(default_factory=AuthSettings, description="API key checks")
    auth_limit: AuthLimitSettings = Field(
        default_factory=AuthLimitSettings, description="Failed-authentication limit per address"
    )
    request_log: RequestLogSettings = Field(
        default_factory=RequestLogSettings, description="The request log table"
    )
    engine: EngineSettings = Field(
        default_factory=EngineSettings, description="Inference device and model memory"
    )
    safety: SafetySettings = Field(default_factory=SafetySettings, description="Prompt filter")
    generation: GenerationSettings = Field(
        default_factory=GenerationSettings, description="Generation limits"
    )
    jobs: JobSettings = Field(default_factory=JobSettings, description="Job execution")
    storage: StorageSettings = Field(
        default_factory=StorageSettings, description="Artifact storage"
    )
    celery: CelerySettings = Field(
        default_factory=CelerySettings, description="The celery executor and `easel worker`"
    )
    engines: list[EngineSpec] = Field(
        default_factory=default_engines,
        description="The engine registry; defaults to every published v1 engine on sandbox "
        "backends",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Precedence: explicit arguments, then environment, then easel.toml.
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @model_validator(mode="after")
    def _check(self) -> Settings:
        ids = [spec.id for spec in self.engines]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate engine ids: {', '.join(duplicates)}")
        if self.jobs.executor == "celery" and self.database_url.startswith("sqlite"):
            raise ValueError(
                "jobs.executor = celery runs jobs in other processes and hosts, which need a "
                "shared PostgreSQL database: set database.url (EASEL_DATABASE__URL) to "
                "postgresql+psycopg://…; SQLite serves one process only"
            )
        return self

    @property
    def models_dir(self) -> Path:
        return self.engine.models_dir or self.server.data_dir / "models"

    @property
    def fast_path(self) -> FastPathSettings:
        """`[engine.fast]` with its compile cache under the data dir unless set."""
        fast = self.engine.fast
        if fast.compile_cache_dir is not None:
            return fast
        return fast.model_copy(update={"compile_cache_dir": self.server.data_dir / "compile-cache"})

    @property
    def artifacts_dir(self) -> Path:
        return self.storage.local_dir or self.server.data_dir / "artifacts"

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite:///{(self.server.data_dir / 'easel.db').resolve()}"


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from arguments, `EASEL_*` variables and a TOML file.

    The TOML file is `config_file` if given, else `easel.toml` in the working
    directory when it exists.
    """
    if config_file is None:
        return Settings(**overrides)
    if not config_file.is_file():
        raise FileNotFoundError(f"config file not found: {config_file}")

    class FileSettings(Settings):
        model_config = SettingsConfigDict(**{**Settings.model_config, "toml_file": config_file})

    return FileSettings(**overrides)
