"""Servers and workers that tests start die with the test process.

A fixture's teardown stops what it started, but a pytest run that is killed
(Ctrl-C twice, a CI timeout, SIGKILL) never runs teardowns: its `easel serve`,
`easel worker`, redis-server and moto processes used to live on, holding
ports and CPU. `die_with_parent` (a `preexec_fn`) asks Linux to send the child
SIGTERM when the process that started it dies, so an easel server still shuts
down cleanly and stops its own worker processes.
"""

from __future__ import annotations

import ctypes
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Run in the child between fork and exec (Linux only; elsewhere a no-op)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
