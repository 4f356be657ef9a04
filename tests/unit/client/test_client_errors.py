"""`parse_error()` and the exception tree: v1 and v2beta bodies, bodies that
are not JSON, and the status/name → class mapping."""

from __future__ import annotations

import httpx
import pytest

from easel.client import (
    APIConnectionError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ContentModerationError,
    InsufficientBalanceError,
    MissingAPIKeyError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    StabilityError,
    parse_error,
)


def response(status, *, json=None, content=None, headers=None):
    request = httpx.Request("GET", "https://api.stability.ai/v1/user/balance")
    if json is not None:
        return httpx.Response(status, json=json, headers=headers, request=request)
    return httpx.Response(status, content=content or b"", headers=headers, request=request)


@pytest.mark.parametrize(
    ("status", "name", "cls"),
    [
        (400, "invalid_height_or_width", BadRequestError),
        (401, "unauthorized", AuthenticationError),
        (402, "insufficient_balance", InsufficientBalanceError),
        (403, "permission_denied", PermissionDeniedError),
        (404, "not_found", NotFoundError),
        (409, "conflict", ConflictError),
        (413, "payload_too_large", BadRequestError),
        (422, "invalid_language", BadRequestError),
        (429, "rate_limit_exceeded", RateLimitError),
        (500, "server_error", ServerError),
        (503, "server_overloaded", ServerError),
    ],
)
def test_v1_error_body(status, name, cls):
    error = parse_error(
        response(
            status,
            json={"id": "296a972f", "name": name, "message": "it went wrong"},
            headers={"X-Request-Id": "req-9"},
        )
    )

    assert type(error) is cls
    assert isinstance(error, APIStatusError)
    assert (error.status, error.id, error.name, error.message) == (
        status,
        "296a972f",
        name,
        "it went wrong",
    )
    assert error.errors == ["it went wrong"]
    assert error.request_id == "req-9"
    assert str(error) == f"{status} {name}: it went wrong (request id req-9)"


def test_v2beta_error_body_joins_errors():
    error = parse_error(
        response(
            400,
            json={
                "id": "f" * 32,
                "name": "bad_request",
                "errors": ["prompt: required", "seed: too big"],
            },
        )
    )

    assert isinstance(error, BadRequestError)
    assert error.errors == ["prompt: required", "seed: too big"]
    assert error.message == "prompt: required; seed: too big"
    assert error.id == "f" * 32
    assert error.request_id is None
    assert str(error) == f"400 bad_request: prompt: required; seed: too big (request id {'f' * 32})"


def test_v2beta_content_moderation_is_a_permission_error():
    error = parse_error(
        response(403, json={"id": "x", "name": "content_moderation", "errors": ["flagged"]})
    )

    assert isinstance(error, ContentModerationError)
    assert isinstance(error, PermissionDeniedError)


def test_non_json_body_keeps_the_text():
    error = parse_error(
        response(502, content=b"<html>Bad Gateway</html>", headers={"Content-Type": "text/html"})
    )

    assert isinstance(error, ServerError)
    assert error.status == 502
    assert error.name == "bad_gateway"
    assert error.message == "<html>Bad Gateway</html>"
    assert error.id is None


def test_empty_body_uses_the_status_defaults():
    error = parse_error(response(404))

    assert isinstance(error, NotFoundError)
    assert (error.name, error.message) == ("not_found", "Not Found")
    assert str(error) == "404 not_found: Not Found"


def test_fastapi_detail_body():
    error = parse_error(response(401, json={"detail": "Not authenticated"}))

    assert isinstance(error, AuthenticationError)
    assert error.message == "Not authenticated"
    assert error.name == "unauthorized"


def test_unmapped_status_is_a_plain_status_error():
    error = parse_error(response(418, json={"id": "t", "name": "teapot", "message": "short"}))

    assert type(error) is APIStatusError
    assert error.name == "teapot"


@pytest.mark.parametrize(("header", "expected"), [("7", 7.0), ("2.5", 2.5), (None, None)])
def test_rate_limit_error_carries_retry_after(header, expected):
    headers = {"Retry-After": header} if header else None
    error = parse_error(
        response(
            429, json={"id": "r", "name": "rate_limit_exceeded", "message": "slow"}, headers=headers
        )
    )

    assert isinstance(error, RateLimitError)
    assert error.retry_after == expected


def test_every_exception_is_a_stability_error():
    for cls in (
        MissingAPIKeyError,
        APIConnectionError,
        APITimeoutError,
        APIResponseError,
        APIStatusError,
        BadRequestError,
        AuthenticationError,
        InsufficientBalanceError,
        PermissionDeniedError,
        ContentModerationError,
        NotFoundError,
        ConflictError,
        RateLimitError,
        ServerError,
    ):
        assert issubclass(cls, StabilityError), cls
    assert issubclass(APITimeoutError, APIConnectionError)
    assert not issubclass(APIConnectionError, APIStatusError)


def test_client_raises_typed_error_with_request_id(server, client):
    server.on(
        "GET", "/v1/user/account", server.v1_error(401, "unauthorized", "bad key", request_id="r-7")
    )

    with pytest.raises(AuthenticationError) as caught:
        client.account()

    assert caught.value.request_id == "r-7"
    assert caught.value.response is not None
    assert caught.value.response.status_code == 401


def test_malformed_success_body_raises_response_error(server, client):
    server.on(
        "GET", "/v1/user/balance", (200, b"<html>login</html>", {"Content-Type": "text/html"})
    )
    server.on("POST", "/v1/generation/sd/text-to-image", {"images": []})

    with pytest.raises(APIResponseError, match="expected JSON"):
        client.balance()
    with pytest.raises(APIResponseError, match="artifacts"):
        client.text_to_image("sd", "x")
