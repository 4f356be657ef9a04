"""A request whose pooled connection PostgreSQL closed (a restart, a failover) gets a
503 with Retry-After in Stability's format, never a 500, and the next one succeeds."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest
from sqlalchemy import create_engine, text

import easel.db.engine
from easel.api.services import Services
from tests.factories import TestAccount


@pytest.fixture(autouse=True)
def no_idle_ping(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # as for connections in steady use: a slow test must not have the pool ping first
    monkeypatch.setattr(easel.db.engine, "IDLE_PING_SECONDS", 3600.0)
    yield


def close_pooled_connections(services: Services) -> int:
    """Terminate, server-side, every connection the app's pool holds; how many."""
    engine = services.db.engine
    with ExitStack() as held:  # all of them checked out at once, to see each one
        pooled = [held.enter_context(engine.connect()) for _ in range(engine.pool.checkedin())]
        pids = [c.execute(text("SELECT pg_backend_pid()")).scalar_one() for c in pooled]
    outsider = create_engine(engine.url)
    try:
        with outsider.connect() as connection:
            for pid in pids:
                connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        outsider.dispose()
    return len(pids)


async def test_a_connection_closed_by_the_server_answers_503_then_recovers(
    client: httpx.AsyncClient, account: TestAccount, services: Services
) -> None:
    headers = account.headers
    assert (await client.get("/v1/user/balance", headers=headers)).status_code == 200
    assert close_pooled_connections(services) >= 1
    refused = await client.get("/v1/user/balance", headers=headers)
    assert refused.status_code == 503, refused.text
    assert refused.json()["name"] == "database_unavailable"
    assert refused.headers["retry-after"] == "1"
    recovered = await client.get("/v1/user/balance", headers=headers)
    assert recovered.status_code == 200, recovered.text
