"""The `easel` command: client commands, plus `serve`, `db` and `admin` for operators.

Server commands import the server packages only when they run, so the base
install (client only, no torch, no FastAPI) can use the client commands.
"""

from __future__ import annotations

import typer

from easel import __version__
from easel.cli import admin, client_commands, server

app = typer.Typer(
    name="easel",
    help="easel: a self-hosted Stability AI API, and a client for it (and for Stability's).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
client_commands.register(app)
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
    app()


if __name__ == "__main__":
    main()
