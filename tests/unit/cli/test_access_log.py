"""uvicorn's access log never carries a secret from a query string."""

from __future__ import annotations

import logging

import pytest

from easel.cli.access_log import RedactQueryFilter, redact_query


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1/user/balance", "/v1/user/balance"),
        ("/v1/user/balance?api_key=sk-abc", "/v1/user/balance?api_key=REDACTED"),
        ("/x?key=sk-abc&limit=10", "/x?key=REDACTED&limit=10"),
        (
            "/x?limit=10&access_token=t0k&Token=t1",
            "/x?limit=10&access_token=REDACTED&Token=REDACTED",
        ),
        ("/x?STABILITY_API_KEY=sk-abc", "/x?STABILITY_API_KEY=REDACTED"),
        (
            "/x?password=hunter2&X-Amz-Signature=ff",
            "/x?password=REDACTED&X-Amz-Signature=REDACTED",
        ),
        ("/x?sk-abc", "/x?REDACTED"),  # not key=value: nothing of it is kept
        ("/x?", "/x?"),
    ],
)
def test_redact_query(path: str, expected: str) -> None:
    assert redact_query(path) == expected


def test_filter_rewrites_uvicorn_access_records() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/v1/engines/list?api_key=sk-secret", "1.1", 200),
        None,
    )
    assert RedactQueryFilter().filter(record)
    message = record.getMessage()
    assert "sk-secret" not in message
    assert message == '127.0.0.1:5000 - "GET /v1/engines/list?api_key=REDACTED HTTP/1.1" 200'
