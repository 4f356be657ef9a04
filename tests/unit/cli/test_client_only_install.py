"""Operator commands on a client-only install: one line naming the extras, no traceback.

Each case runs `easel` in a subprocess whose import system refuses the
server and inference packages, as a base `pip install` would lack them
(pydantic stays: typer itself needs it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import easel

BLOCKED = (
    "fastapi starlette uvicorn sqlalchemy alembic pydantic_settings multipart "
    "python_multipart prometheus_client PIL numpy torch diffusers transformers psycopg redis celery"
).split()

RUNNER = f"""
import sys

BLOCKED = {BLOCKED!r}


class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, Blocker())
from easel.cli.main import main

sys.argv = ["easel", *sys.argv[1:]]
main()
"""


def run_easel(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    src = Path(easel.__file__).resolve().parents[1]  # the easel this test imported
    env = {**os.environ, "PYTHONPATH": str(src)}
    env.pop("EASEL_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-c", RUNNER, *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )


@pytest.mark.parametrize(
    "args",
    [
        ("serve",),
        ("db", "upgrade"),
        ("admin", "user", "create", "a@example.com"),
        ("admin", "key", "list"),
    ],
)
def test_server_commands_print_one_line_naming_the_extras(tmp_path, args):
    result = run_easel(tmp_path, *args)

    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "pip install 'easel-server[server]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_client_commands_still_work_without_the_server_packages(tmp_path):
    result = run_easel(tmp_path, "generate", "v1", "--help")
    group = run_easel(tmp_path, "generate", "--help")

    assert result.returncode == 0, result.stderr
    assert "--init-image" in result.stdout
    assert group.returncode == 0 and "core" in group.stdout
