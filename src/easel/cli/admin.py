"""`easel admin …`: users, organizations, members, API keys and credits.

These commands work on the database directly (the server need not run).
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from easel.cli import settings as cli_settings

if TYPE_CHECKING:
    from easel.accounts.models import ApiKeyInfo
    from easel.accounts.service import AccountsService
    from easel.admin.service import AdminService

app = typer.Typer(
    help="Administer users, organizations, API keys and credits.", no_args_is_help=True
)
users = typer.Typer(help="Users.", no_args_is_help=True)
orgs = typer.Typer(help="Organizations.", no_args_is_help=True)
members = typer.Typer(help="Organization members.", no_args_is_help=True)
keys = typer.Typer(help="API keys.", no_args_is_help=True)
credits = typer.Typer(help="Credits.", no_args_is_help=True)
app.add_typer(users, name="user")
app.add_typer(orgs, name="org")
app.add_typer(members, name="member")
app.add_typer(keys, name="key")
app.add_typer(credits, name="credits")


def _print(table: Table) -> None:
    # A console per call: the terminal width is read when a Console is made.
    Console().print(table)


class _Context:
    def __init__(self, config: Path | None) -> None:
        from easel.db import migrate
        from easel.wiring import build_ledger

        settings = cli_settings.load(config)
        if settings.database.migrate_on_start:
            migrate.upgrade(settings.database_url)
        ledger = build_ledger(settings)
        self.db = ledger.db
        self.accounts: AccountsService = ledger.accounts
        self.admin: AdminService = ledger.admin


def _run(config: Path | None, action: object) -> None:
    """Run `action(ctx)`, turning domain errors into one line and exit code 1."""
    from easel.errors import EaselError

    ctx = _Context(config)
    try:
        action(ctx)  # type: ignore[operator]
    except EaselError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    finally:
        ctx.db.dispose()


@users.command("create")
def user_create(
    email: str,
    admin: bool = typer.Option(False, "--admin", help="Make the user an administrator."),
    config: Path | None = cli_settings.ConfigOption,
) -> None:
    """Create a user; prints the user id."""
    _run(config, lambda ctx: typer.echo(ctx.admin.create_user(email, is_admin=admin)))


@orgs.command("create")
def org_create(name: str, config: Path | None = cli_settings.ConfigOption) -> None:
    """Create an organization; prints the organization id."""
    _run(config, lambda ctx: typer.echo(ctx.admin.create_organization(name).id))


@orgs.command("list")
def org_list(config: Path | None = cli_settings.ConfigOption) -> None:
    """List organizations with their members and available credits."""

    def action(ctx: _Context) -> None:
        table = Table("id", "name", "members", "credits", "created")
        for org in ctx.admin.organizations():
            table.add_row(
                org.id, org.name, str(org.members), f"{org.credits:g}", f"{org.created_at:%Y-%m-%d}"
            )
        _print(table)

    _run(config, action)


@members.command("add")
def member_add(
    user: str = typer.Argument(..., help="User id or email."),
    org: str = typer.Argument(..., help="Organization id."),
    role: str = typer.Option("MEMBER", help="OWNER, ADMIN or MEMBER."),
    default: bool = typer.Option(False, "--default", help="Make it the user's default org."),
    config: Path | None = cli_settings.ConfigOption,
) -> None:
    """Add a user to an organization."""

    def action(ctx: _Context) -> None:
        member = ctx.admin.add_member(user, org, role=role, default=default)
        typer.echo(f"added {member.email} to {org} as {member.role}")

    _run(config, action)


@members.command("list")
def member_list(
    org: str = typer.Argument(..., help="Organization id."),
    config: Path | None = cli_settings.ConfigOption,
) -> None:
    """List an organization's members."""

    def action(ctx: _Context) -> None:
        table = Table("user", "email", "role", "default")
        for member in ctx.admin.members(org):
            table.add_row(
                member.user_id, member.email, member.role, "yes" if member.is_default else ""
            )
        _print(table)

    _run(config, action)


@keys.command("create")
def key_create(
    user: str = typer.Argument(..., help="User id or email."),
    name: str = typer.Option("", help="A label for the key."),
    config: Path | None = cli_settings.ConfigOption,
) -> None:
    """Create an API key; the secret is printed once and never stored."""

    def action(ctx: _Context) -> None:
        created = ctx.accounts.create_key(user, name=name)
        typer.echo(created.secret)
        typer.echo(
            f"key id {created.info.id}; store the secret now, it is not shown again", err=True
        )

    _run(config, action)


@keys.command("list")
def key_list(
    user: str | None = typer.Option(None, help="Only this user's keys (id or email)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array."),
    config: Path | None = cli_settings.ConfigOption,
) -> None:
    """List API keys (prefixes only). Piped output is tab-separated, with full ids."""

    def action(ctx: _Context) -> None:
        listed = ctx.accounts.list_keys(user)
        if as_json:
            typer.echo(json.dumps([_key_json(key) for key in listed], indent=2))
            return
        columns = ("id", "prefix", "user", "name", "created", "last used", "revoked")
        rows = [
            (
                key.id,
                key.prefix,
                key.email,
                key.name,
                f"{key.created_at:%Y-%m-%d %H:%M}",
                f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "-",
                f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "-",
            )
            for key in listed
        ]
        if not _stdout_is_terminal():
            # a table narrower than its ids would cut them; scripts need them whole
            for row in (columns, *rows):
                typer.echo("\t".join(row))
            return
        table = Table(*columns)
        for row in rows:
            table.add_row(*row)
        _print(table)

    _run(config, action)


def _stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def _key_json(key: ApiKeyInfo) -> dict[str, str | None]:
    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": key.id,
        "prefix": key.prefix,
        "user_id": key.user_id,
        "email": key.email,
        "name": key.name,
        "created_at": when(key.created_at),
        "last_used_at": when(key.last_used_at),
        "revoked_at": when(key.revoked_at),
    }


@keys.command("revoke")
def key_revoke(
    key: str = typer.Argument(
        ..., help="Key id or visible prefix, or a unique start of either as listed."
    ),
    config: Path | None = cli_settings.ConfigOption,
) -> None:
    """Revoke an API key."""

    def action(ctx: _Context) -> None:
        info = ctx.accounts.revoke_key(key)
        typer.echo(f"revoked {info.id} ({info.prefix}…)")

    _run(config, action)


@credits.command("grant")
def credits_grant(
    org: str = typer.Argument(..., help="Organization id."),
    amount: float = typer.Argument(..., help="Credits to add (negative to remove)."),
    note: str = typer.Option("", help="Why; stored in the ledger."),
    config: Path | None = cli_settings.ConfigOption,
) -> None:
    """Grant credits to an organization; prints the new balance."""
    _run(config, lambda ctx: typer.echo(f"{ctx.admin.grant_credits(org, amount, note=note):g}"))


@credits.command("show")
def credits_show(
    org: str = typer.Argument(..., help="Organization id."),
    limit: int = typer.Option(20, help="Ledger rows to show."),
    config: Path | None = cli_settings.ConfigOption,
) -> None:
    """Show an organization's available credits and its latest ledger rows."""

    def action(ctx: _Context) -> None:
        statement = ctx.admin.credits(org, limit=limit)
        typer.echo(f"available: {statement.available:g}")
        table = Table("when", "kind", "credits", "balance", "request id", "note")
        for entry in statement.ledger:
            table.add_row(
                f"{entry.created_at:%Y-%m-%d %H:%M:%S}",
                entry.kind,
                f"{entry.credits:+g}",
                f"{entry.balance_after:g}",
                entry.request_id or "-",
                entry.note,
            )
        _print(table)

    _run(config, action)
