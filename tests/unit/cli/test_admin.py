"""`easel admin …` against a real database, through typer's runner."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from easel.accounts import service as accounts_service
from easel.cli import admin
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
    orgs = run(env, "org", "list")
    assert org_id in orgs and "Ops team" in orgs and "12.5" in orgs
    members = run(env, "member", "list", org_id)
    assert "ops@example.com" in members and "OWNER" in members
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


def _user_with_key(env: dict[str, str], email: str = "keys@example.com") -> str:
    run(env, "user", "create", email)
    return run(env, "key", "create", email).splitlines()[0]


def test_key_list_json_has_full_ids_and_no_secret(env: dict[str, str]) -> None:
    secret = _user_with_key(env)
    keys = json.loads(run(env, "key", "list", "--json"))
    assert [k["prefix"] for k in keys] == [secret[:10]]
    assert keys[0]["id"].startswith("key-") and len(keys[0]["id"]) == len("key-") + 24
    assert keys[0]["email"] == "keys@example.com" and keys[0]["revoked_at"] is None
    assert secret not in json.dumps(keys)


def test_piped_key_list_keeps_full_ids_however_narrow(env: dict[str, str]) -> None:
    _user_with_key(env)
    key_id = json.loads(run(env, "key", "list", "--json"))[0]["id"]
    header, row = run(env, "key", "list").splitlines()  # CliRunner's stdout is not a TTY
    assert header.split("\t")[:2] == ["id", "prefix"]
    assert row.split("\t")[0] == key_id


def test_revoke_by_the_prefix_a_narrow_table_displays(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = _user_with_key(env)
    monkeypatch.setattr(admin, "_stdout_is_terminal", lambda: True)
    table = run({**env, "COLUMNS": "80"}, "key", "list")
    displayed = re.search(r"key-[0-9a-f]+…", table)
    assert displayed is not None, table  # the id column is cut short
    assert "revoked" in run(env, "key", "revoke", displayed.group())
    result = runner.invoke(app, ["admin", "key", "revoke", secret[:8]], env=env)
    assert result.exit_code == 0, result.output  # a unique start of the prefix works too
    assert json.loads(run(env, "key", "list", "--json"))[0]["revoked_at"] is not None


def test_ambiguous_prefix_is_a_clear_error(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = iter(["user-1", "key-abc1230001", "key-abc1230002"])
    monkeypatch.setattr(accounts_service, "new_id", lambda _kind: next(ids))
    run(env, "user", "create", "twice@example.com")
    run(env, "key", "create", "twice@example.com")
    run(env, "key", "create", "twice@example.com")
    result = runner.invoke(app, ["admin", "key", "revoke", "key-abc123"], env=env)
    assert result.exit_code == 1
    assert "matches 2 keys (key-abc1230001, key-abc1230002)" in result.stderr
    assert "give more of the key id" in result.stderr
    assert all(k["revoked_at"] is None for k in json.loads(run(env, "key", "list", "--json")))
