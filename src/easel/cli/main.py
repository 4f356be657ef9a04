"""The `easel` command: client commands, plus `serve`, `db` and `admin` for operators.

Server commands import the server packages only when they run, so the base
install (client only, no torch, no FastAPI) can use the client commands.
"""

from __future__ import annotations

import typer

from easel import __version__
from easel.cli import admin, client_commands, mcp_command, server
from easel.cli.extras import missing_extra_hint

app = typer.Typer(
    name="easel",
    help="easel: a self-hosted Stability AI API, and a client for it (and for Stability's).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
client_commands.register(app)
mcp_command.register(app)
server.register(app)
app.add_typer(admin.app, name="admin")


def _version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """easel command line."""


def main() -> None:
    try:
        app()
    except ModuleNotFoundError as exc:
        hint = missing_extra_hint(exc)
        if hint is None:
            raise
        typer.echo(hint, err=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
