"""`easel serve`, `easel worker` and `easel db upgrade`."""

from __future__ import annotations

from pathlib import Path

import typer

from easel.cli import access_log
from easel.cli import settings as cli_settings
from easel.heap import freeze_long_lived

db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(worker)
    app.add_typer(db_app, name="db")


def serve(
    config: Path | None = cli_settings.ConfigOption,
    host: str | None = typer.Option(None, help="Interface to listen on (default 127.0.0.1)."),
    port: int | None = typer.Option(None, help="Port to listen on (default 8000)."),
    data_dir: Path | None = typer.Option(
        None,
        help="Directory for the SQLite database, artifacts and sandbox models (default .easel).",
    ),
    database_url: str | None = typer.Option(
        None, help="SQLAlchemy database URL (default: SQLite in the data directory)."
    ),
) -> None:
    """Run the API server. Every setting is also an EASEL_* variable or an easel.toml key.

    See the settings table in README.md, e.g. EASEL_RATE_LIMIT__BACKEND=redis.
    """
    import uvicorn

    from easel.api.app import create_app
    from easel.cli.http_protocol import deadline_protocol

    server: dict[str, object] = {}
    if host:
        server["host"] = host
    if port is not None:
        server["port"] = port
    if data_dir:
        server["data_dir"] = data_dir
    loaded = cli_settings.load(config)
    overrides: dict[str, object] = {}
    if server:
        overrides["server"] = loaded.server.model_copy(update=server)
    if database_url:
        overrides["database"] = loaded.database.model_copy(update={"url": database_url})
    settings = loaded.model_copy(update=overrides) if overrides else loaded
    _configure_logging(settings.server.log_level)
    limits = settings.server
    app = create_app(settings)
    if settings.jobs.executor == "inprocess":
        # models load in this process: each lives as long as the process uses it
        app.state.services.engines.after_load = freeze_long_lived
    server_config = uvicorn.Config(
        app,
        host=limits.host,
        port=limits.port,
        log_level=limits.log_level,
        # Slow clients: every request must arrive within its deadlines, idle
        # connections go after keep_alive_seconds, and connections are capped.
        http=deadline_protocol(
            header_timeout=limits.header_timeout_seconds,
            body_timeout=limits.body_timeout_seconds,
            max_connections=limits.max_connections,
        ),
        timeout_keep_alive=limits.keep_alive_seconds,  # type: ignore[arg-type]
        limit_concurrency=limits.max_connections,
    )
    access_log.install()  # after uvicorn.Config, which (re)configures its loggers
    freeze_long_lived()  # the app, its routes and modules live as long as the process
    uvicorn.Server(server_config).run()


@db_app.command("upgrade")
def db_upgrade(
    config: Path | None = cli_settings.ConfigOption,
    revision: str = typer.Argument("head", help="Alembic revision to upgrade to."),
) -> None:
    """Apply database migrations."""
    from easel.db import migrate

    settings = cli_settings.load(config)
    migrate.upgrade(settings.database_url, revision)
    typer.echo(f"database at revision {revision}")


def _configure_logging(level: str) -> None:
    import logging

    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )


def worker(
    config: Path | None = cli_settings.ConfigOption,
    log_level: str | None = typer.Option(None, help="Log level (default: server.log_level)."),
) -> None:
    """Run jobs from the celery executor's queue (one worker per device; any number of hosts).

    Needs jobs.executor = celery, a PostgreSQL database.url and the same storage, broker and
    engine settings as the API processes: EASEL_JOBS__EXECUTOR=celery EASEL_DATABASE__URL=…
    """
    from easel.wiring import build_celery_worker

    settings = cli_settings.load(config)
    _configure_logging(log_level or settings.server.log_level)
    try:
        runner = build_celery_worker(settings)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    freeze_long_lived()  # what startup made lives as long as the worker
    raise typer.Exit(runner.run(loglevel=(log_level or settings.server.log_level).upper()))
