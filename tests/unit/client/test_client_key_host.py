"""Which key and host a client uses, and the warning when an easel key would
go to Stability's hosted API because no host is set."""

from __future__ import annotations

import secrets
import warnings

import pytest

from easel.client import DEFAULT_HOST, Client, MissingHostWarning
from easel.client._base import looks_like_easel_key

EASEL_KEY = "sk-" + "A" * 46 + "-_"  # easel's format: 48 URL-safe characters
STABILITY_KEY = "sk-" + "a1B2" * 12  # alphanumeric, as Stability's keys are


def test_key_and_host_precedence(monkeypatch):
    monkeypatch.setenv("STABILITY_API_KEY", "sk-stability")
    monkeypatch.setenv("EASEL_API_KEY", "sk-easel")
    monkeypatch.setenv("API_HOST", "http://127.0.0.1:8000")

    with Client() as from_env, Client("sk-arg", host="https://h.example") as explicit:
        assert from_env._default_headers["Authorization"] == "Bearer sk-stability"
        assert from_env.host == "http://127.0.0.1:8000"
        assert explicit._default_headers["Authorization"] == "Bearer sk-arg"
        assert explicit.host == "https://h.example"


def test_an_easel_formatted_key_without_a_host_warns():
    with pytest.warns(MissingHostWarning, match="easel's format.*api.stability.ai") as caught:
        Client(EASEL_KEY).close()

    assert caught[0].filename == __file__  # points at the caller's line


def test_a_key_from_easel_api_key_without_a_host_warns(monkeypatch):
    monkeypatch.setenv("EASEL_API_KEY", "sk-whatever")

    with pytest.warns(MissingHostWarning, match="EASEL_API_KEY"):
        client = Client()

    assert client.host == DEFAULT_HOST
    client.close()


@pytest.mark.parametrize(
    ("key", "host_env", "host"),
    [
        (STABILITY_KEY, None, None),  # a Stability key for Stability
        (EASEL_KEY, "http://127.0.0.1:8000", None),  # host from the environment
        (EASEL_KEY, None, "http://127.0.0.1:8000"),  # host passed
    ],
)
def test_no_warning_when_the_host_is_set_or_the_key_is_not_easels(monkeypatch, key, host_env, host):
    if host_env:
        monkeypatch.setenv("API_HOST", host_env)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Client(key, host=host).close()


def test_easel_key_format_matches_the_keys_easel_mints():
    from easel.accounts.keys import new_secret

    minted = [new_secret() for _ in range(200)]
    flagged = [key for key in minted if looks_like_easel_key(key)]
    # Keys without - or _ look like Stability's and are not flagged.
    assert flagged == [key for key in minted if not key[3:].isalnum()]
    assert len(flagged) > 100
    assert not looks_like_easel_key(STABILITY_KEY)
    assert not looks_like_easel_key("sk-" + secrets.token_hex(24) + "-")  # 49 characters
