"""The base install stays light: the client and its CLI commands import no
server package, no torch, no web framework. And the public API is pinned."""

from __future__ import annotations

import subprocess
import sys

import easel.client

FORBIDDEN = (
    "torch",
    "diffusers",
    "transformers",
    "fastapi",
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "alembic",
    "pydantic",
    "pydantic_settings",
    "PIL",
    "numpy",
    "celery",
    "redis",
)
SERVER_PACKAGES = (
    "easel.api",
    "easel.accounts",
    "easel.billing",
    "easel.config",
    "easel.db",
    "easel.engines",
    "easel.errors",
    "easel.jobs",
    "easel.ratelimit",
    "easel.safety",
    "easel.storage",
)

CHECK = f"""
import sys
import easel.client, easel.cli.client_commands, easel.cli.main
loaded = set(sys.modules)
heavy = sorted(m for m in loaded if m.split(".")[0] in {FORBIDDEN!r})
server = sorted(m for m in loaded if m.startswith({SERVER_PACKAGES!r}))
assert 'torch' not in sys.modules and 'fastapi' not in sys.modules, heavy
assert not heavy, heavy
assert not server, server
"""


def test_client_and_cli_import_without_server_dependencies():
    completed = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60
    )

    assert completed.returncode == 0, completed.stderr


def test_public_api_is_pinned():
    assert sorted(easel.client.__all__) == sorted(
        [
            "DEFAULT_HOST",
            "DEFAULT_PRICES",
            "DEFAULT_TIMEOUT",
            "APIConnectionError",
            "APIResponseError",
            "APIStatusError",
            "APITimeoutError",
            "Account",
            "Artifact",
            "AsyncClient",
            "AsyncGenerationJob",
            "AuthenticationError",
            "BadRequestError",
            "Balance",
            "Client",
            "ConflictError",
            "ContentModerationError",
            "Engine",
            "EnginePrice",
            "GenerationJob",
            "GenerationProgress",
            "GenerationResult",
            "GenerationTimeoutError",
            "ImageInput",
            "InsufficientBalanceError",
            "MediaResult",
            "MissingAPIKeyError",
            "MissingHostWarning",
            "NotFoundError",
            "Organization",
            "Param",
            "PermissionDeniedError",
            "ProgressCallback",
            "PromptsInput",
            "RateLimit",
            "RateLimitError",
            "RetryPolicy",
            "ServerError",
            "StabilityError",
            "TextPrompt",
            "TokenBucket",
            "parse_error",
        ]
    )
    for name in easel.client.__all__:
        assert hasattr(easel.client, name), name
    for name in ("Client", "AsyncClient"):
        assert getattr(easel.client, name).__module__ == "easel.client._client"


MCP_CHECK = f"""
import sys
import easel.mcp.server, easel.cli.mcp_command
loaded = set(sys.modules)
assert not any(m.split(".")[0] in ("torch", "diffusers", "transformers", "fastapi") for m in loaded)
server = sorted(m for m in loaded if m.startswith({SERVER_PACKAGES!r}))
assert not server, server
"""


def test_the_mcp_server_imports_without_torch_or_server_packages():
    completed = subprocess.run(
        [sys.executable, "-c", MCP_CHECK], capture_output=True, text=True, timeout=60
    )

    assert completed.returncode == 0, completed.stderr
