"""The README's API examples run verbatim against a real server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.integration.conftest import RunningServer

README = (Path(__file__).parents[2] / "README.md").read_text()


def api_examples() -> str:
    """Every bash block of the "Using the API" section, minus its two `export` lines
    (the test sets API_HOST and STABILITY_API_KEY to the server it started)."""
    section = README.split("## Using the API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.DOTALL)
    lines = [ln for block in blocks for ln in block.splitlines() if not ln.startswith("export ")]
    return "\n".join(lines) + "\n"


def test_readme_api_examples_work_verbatim(running_server: RunningServer, tmp_path: Path) -> None:
    script = tmp_path / "examples.sh"
    script.write_text("set -euo pipefail\n" + api_examples())
    # The examples run in the checkout, where `make serve` made `.venv`: here that
    # is the environment running the tests. PATH stays the user's own.
    (tmp_path / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    env = {
        **os.environ,
        "API_HOST": running_server.url,
        "STABILITY_API_KEY": running_server.api_key,
    }
    done = subprocess.run(
        ["bash", str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr
    assert '"credits":' in done.stdout and '"organizations":' in done.stdout
    assert "stable-diffusion-xl-1024-v1-0" in done.stdout
    assert "'SUCCESS'" in done.stdout  # the artifacts summary of the JSON example
    for name in ("lighthouse.png", "night.png", "winter.png", "inpainted.png", "upscaled.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG", name
    assert '"status":"ok"' in done.stdout and "easel_http_requests_total" in done.stdout
