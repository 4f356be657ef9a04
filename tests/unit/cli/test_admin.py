"""`easel admin …` against a real database, through typer's runner."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from easel.cli.main import app

runner = CliRunner()


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "EASEL_DATABASE__URL": db_url,
        "EASEL_SERVER__DATA_DIR": str(tmp_path),
        "COLUMNS": "300",
    }


def run(env: dict[str, str], *args: str) -> str:
    result = runner.invoke(app, ["admin", *args], env=env)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_user_org_member_key_and_credits(env: dict[str, str]) -> None:
    user_id = run(env, "user", "create", "ops@example.com", "--admin")
    assert user_id.startswith("user-")
    org_id = run(env, "org", "create", "Ops team")
    assert org_id.startswith("org-")
    assert "OWNER" in run(env, "member", "add", "ops@example.com", org_id, "--role", "owner")

    secret = run(env, "key", "create", user_id, "--name", "ci").splitlines()[0]
    assert secret.startswith("sk-")
    listing = run(env, "key", "list")
    assert secret[:10] in listing and secret not in listing

    assert run(env, "credits", "grant", org_id, "12.5", "--note", "pilot") == "12.5"
    shown = run(env, "credits", "show", org_id)
    assert "available: 12.5" in shown and "pilot" in shown and "grant" in shown

    year = str(datetime.now(UTC).year)
    before = _row(run(env, "key", "list"), secret[:10])
    assert "revoked" in run(env, "key", "revoke", secret[:10])
    after = _row(run(env, "key", "list"), secret[:10])
    assert after.count(year) == before.count(year) + 1  # the revoked column got a date


def _row(listing: str, prefix: str) -> str:
    return next(line for line in listing.splitlines() if prefix in line)


def test_errors_are_one_line_and_exit_1(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["admin", "member", "add", "ghost@example.com", "org-x"], env=env)
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: user ghost@example.com not found"

    result = runner.invoke(app, ["admin", "key", "revoke", "sk-nothing"], env=env)
    assert result.exit_code == 1
    assert "not found" in result.stderr


def test_invalid_settings_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["admin", "org", "create", "x"], env={"EASEL_RATE_LIMIT__REQUESTS": "zero"}
    )
    assert result.exit_code == 2
    assert "invalid settings" in result.stderr
