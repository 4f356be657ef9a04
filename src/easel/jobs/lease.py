"""Keeps a worker's leases alive while it holds jobs.

If the process dies, renewals stop and the leases expire, which is what lets
recovery settle the jobs it held.
"""

from __future__ import annotations

from datetime import timedelta

from easel.background import Periodic
from easel.jobs.store import JobStore


class LeaseKeeper(Periodic):
    def __init__(self, store: JobStore, owner: str, lease: timedelta) -> None:
        # renew three times per lease, so one slow database round trip loses nothing
        super().__init__(
            lambda: store.renew_leases(owner, lease),
            lease.total_seconds() / 3,
            name="easel-lease",
        )
