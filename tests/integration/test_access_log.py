"""A key sent in a query string never reaches the server's log."""

from __future__ import annotations

import time

import httpx

from tests.integration.conftest import RunningServer


def test_query_string_secrets_are_not_logged(running_server: RunningServer) -> None:
    secret = "sk-in-the-query-string-0123456789"
    response = httpx.get(
        f"{running_server.url}/v1/engines/list", params={"api_key": secret, "marker": "m1"}
    )
    assert response.status_code == 401
    for _ in range(50):  # the access line is written just after the response
        if "marker=m1" in running_server.log():
            break
        time.sleep(0.1)
    log = running_server.log()
    assert "/v1/engines/list?api_key=REDACTED&marker=m1" in log
    assert secret not in log
