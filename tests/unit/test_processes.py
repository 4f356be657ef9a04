"""A process a test starts dies with the test process, even one that is SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# The parent a killed pytest run would be: it starts a child the way the fixtures do.
PARENT = textwrap.dedent(
    """
    import subprocess, sys, time
    from tests.processes import die_with_parent
    child = subprocess.Popen(["sleep", "60"], preexec_fn=die_with_parent)
    print(child.pid, flush=True)
    time.sleep(60)
    """
)


def gone(pid: int) -> bool:
    """Exited (a zombie not yet reaped by its new parent counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_a_child_gets_sigterm_when_the_process_that_started_it_is_killed() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        assert not gone(child)
        parent.kill()  # SIGKILL: no teardown runs
        parent.wait()
        deadline = time.monotonic() + 10
        while not gone(child):
            assert time.monotonic() < deadline, "the child outlived its parent"
            time.sleep(0.02)
    finally:
        parent.stdout.close()
        if not gone(child):
            os.kill(child, signal.SIGKILL)
