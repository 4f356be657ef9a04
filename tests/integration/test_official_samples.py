"""Stability's own Python samples from the v1 spec run unchanged against easel.

The samples are read from the spec (tests/data) at test time and executed as
they are, with only `API_HOST` and `STABILITY_API_KEY` set and the files they
read put where they expect them. The seed's copy of four samples lost its
indentation (every nested line is indented by one space, which is not valid
Python); for those, and only those, the block structure is restored by
re-indenting. Nothing but leading whitespace changes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.images import mask_png, noise_png
from tests.integration.conftest import RunningServer

SPEC = Path(__file__).parent.parent / "data" / "stability-api-v1.openapi.json"


def python_samples() -> dict[str, str]:
    spec = json.loads(SPEC.read_text())
    samples = {}
    for operations in spec["paths"].values():
        for operation in operations.values():
            for sample in operation.get("x-codeSamples", []):
                if sample["lang"] == "Python":
                    samples[operation["operationId"]] = sample["source"]
    return samples


def restore_indentation(source: str) -> str:
    """Re-indent a sample whose nested lines were all collapsed to one space."""
    try:
        compile(source, "sample", "exec")
        return source
    except SyntaxError:
        pass
    lines, depth, brackets = [], 0, 0
    for line in source.splitlines():
        code = line.strip()
        if not code:
            lines.append("")
            continue
        if brackets == 0 and not line[0].isspace():
            depth = 0
        lines.append("    " * (depth + (1 if brackets else 0)) + code)
        brackets += sum(code.count(c) for c in "([{") - sum(code.count(c) for c in ")]}")
        if brackets == 0 and code.endswith(":"):
            depth += 1
    repaired = "\n".join(lines) + "\n"
    assert [ln.strip() for ln in repaired.splitlines()] == [
        ln.strip() for ln in source.splitlines()
    ]
    return repaired


SAMPLES = {name: restore_indentation(source) for name, source in python_samples().items()}


def test_the_spec_has_a_python_sample_per_operation() -> None:
    assert set(SAMPLES) == {
        "textToImage",
        "imageToImage",
        "masking",
        "upscaleImage",
        "listEngines",
        "userAccount",
        "userBalance",
    }


@pytest.mark.parametrize("operation", sorted(SAMPLES))
def test_official_sample_runs_unchanged(
    operation: str, running_server: RunningServer, tmp_path: Path
) -> None:
    # The samples read ../init_image*.png and ../mask_image_white.png and write ./out/.
    work = tmp_path / "work"
    (work / "out").mkdir(parents=True)
    (tmp_path / "init_image.png").write_bytes(noise_png(512, 512))
    (tmp_path / "init_image_1024.png").write_bytes(noise_png(1024, 1024))
    (tmp_path / "mask_image_white.png").write_bytes(mask_png(512, 512, box=(128, 128, 384, 384)))
    script = work / "sample.py"
    script.write_text(SAMPLES[operation])
    env = {
        **os.environ,
        "API_HOST": running_server.url,
        "STABILITY_API_KEY": running_server.api_key,
    }
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    outputs = sorted(p.name for p in (work / "out").iterdir())
    if operation in ("textToImage", "imageToImage", "masking", "upscaleImage"):
        assert outputs, "the sample saved no image"
        for name in outputs:
            assert (work / "out" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
