"""schemathesis against a real `easel serve`, driven by easel's own `/openapi.json`.

Two profiles share this module. `QUICK` runs in `make test`
(`test_schemathesis.py`): a fixed seed and a fixed number of examples per
operation, so the same requests go out on every run, and a time limit past
which the run is killed and fails. `LONG` is `make fuzz`
(`python -m tests.integration.fuzzing`): many more examples and every check.

The server is configured so that fuzzing stays cheap without loosening any
validation: no per-key or failed-auth rate limits (a fuzzer would spend its
budget on 429s), and a small credit balance in `QUICK`, so that only a few
cheap requests that pass validation ever generate and the rest stop at 402
(on a loaded 2-core machine one 30-step sandbox image can take a minute).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.integration.conftest import RunningServer, start_server, stop_server

SEED = 16
# Every check that compares a response with the document.
CONFORMANCE = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance,response_headers_conformance"
)
# For `LONG`: what easel answers by design where a schema cannot say why (see the file).
LONG_CONFIG = Path(__file__).with_name("schemathesis.toml")


@dataclass(frozen=True)
class Profile:
    name: str
    examples: int  # per operation, in the fuzzing phase
    checks: str
    time_limit: float  # seconds; past it the run is killed and counts as failed
    credits: float  # the bootstrap organization's balance
    options: tuple[str, ...] = ()


# 0.5 credits: a v1 image at 512x512 and 30 steps (0.9) is refused with 402; a cheap one
# (fewer steps, an ESRGAN upscale) still runs, so 200s are checked too.
QUICK = Profile("quick", examples=30, checks=CONFORMANCE, time_limit=300, credits=0.5)
LONG = Profile(
    "long",
    examples=300,
    checks="all",
    time_limit=3600,
    credits=1000,
    options=("--continue-on-failure",),
)


def server_env(profile: Profile) -> dict[str, str]:
    return {
        "EASEL_RATE_LIMIT__ENABLED": "false",
        "EASEL_AUTH_LIMIT__ENABLED": "false",
        "EASEL_SERVER__BOOTSTRAP_CREDITS": str(profile.credits),
    }


@dataclass(frozen=True)
class Outcome:
    exit_code: int | None  # None: killed at the time limit
    requests: int
    server_errors: int
    seconds: float
    output: str

    def summary(self) -> str:
        ending = "killed at the time limit" if self.exit_code is None else f"exit {self.exit_code}"
        return (
            f"schemathesis: {self.requests} requests, {self.server_errors} 5xx, "
            f"{self.seconds:.0f} s, {ending}"
        )


def run(server: RunningServer, profile: Profile, report_dir: Path) -> Outcome:
    """Run schemathesis with `profile` against `server`, reports under `report_dir`."""
    headers = {"Authorization": f"Bearer {server.api_key}"}
    account = httpx.get(f"{server.url}/v1/user/account", headers=headers).json()
    # A fixed organization: a generated one would turn nearly every request into a 403.
    organization = account["organizations"][0]["id"]
    config = ["--config-file", str(LONG_CONFIG)] if profile.checks == "all" else []
    command = [
        *(sys.executable, "-m", "schemathesis.cli", *config, "--no-color", "run"),
        f"{server.url}/openapi.json",
        *("--seed", str(SEED), "--max-examples", str(profile.examples), "--workers", "1"),
        *("--checks", profile.checks, "--request-timeout", "120"),
        # no example database: a stored failure would change what the next run sends
        *("--generation-database", "none"),
        *("-H", f"Authorization: Bearer {server.api_key}", "-H", f"Organization: {organization}"),
        *("--report", "ndjson", "--report-dir", str(report_dir)),
        *profile.options,
    ]
    # schemathesis keeps per-project state (a crash cache) in its working directory and
    # reuses it; run it in the report directory so that no run inherits another's.
    report_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    exit_code: int | None
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=profile.time_limit,
            check=False,
            cwd=report_dir,
        )
        exit_code, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        exit_code, output = None, _text(exc.stdout) + _text(exc.stderr)
    seconds = time.monotonic() - started
    statuses = list(response_statuses(report_dir))
    return Outcome(
        exit_code=exit_code,
        requests=len(statuses),
        server_errors=sum(1 for status in statuses if status >= 500),
        seconds=seconds,
        output=output,
    )


def response_statuses(report_dir: Path) -> Iterator[int]:
    """The status of every response in the run's NDJSON report (one line per event)."""
    for report in report_dir.glob("*.ndjson"):
        with report.open() as lines:
            for line in lines:
                if '"ScenarioFinished"' not in line[:40]:
                    continue
                recorder = json.loads(line)["ScenarioFinished"]["recorder"]
                for interaction in recorder.get("interactions", {}).values():
                    if interaction.get("response"):
                        yield int(interaction["response"]["status_code"])


def _text(data: str | bytes | None) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else data or ""


def main() -> int:
    """`make fuzz`: the long run against a fresh server; prints the figures."""
    with tempfile.TemporaryDirectory(prefix="easel-fuzz-") as tmp:
        root = Path(tmp)
        server = start_server(root / "data", env=server_env(LONG))
        try:
            outcome = run(server, LONG, root / "reports")
        finally:
            stop_server(server)
    print(outcome.output)
    print(outcome.summary())
    return 0 if outcome.exit_code == 0 and outcome.server_errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
