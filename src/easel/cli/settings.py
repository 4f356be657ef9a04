"""Loading server settings for operator commands (`serve`, `db`, `admin`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from easel.config import Settings

ConfigOption = typer.Option(
    None,
    "--config",
    "-c",
    envvar="EASEL_CONFIG",
    help="TOML settings file (default: ./easel.toml if present).",
)


def load(config: Path | None, **overrides: Any) -> Settings:
    """Settings from the TOML file, `EASEL_*` variables and explicit overrides."""
    from pydantic import ValidationError

    from easel.config import load_settings

    try:
        return load_settings(config, **{k: v for k, v in overrides.items() if v})
    except (ValidationError, FileNotFoundError) as exc:
        typer.echo(f"error: invalid settings: {exc}", err=True)
        raise typer.Exit(2) from exc


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes")
