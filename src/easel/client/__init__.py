"""Python SDK for the Stability AI REST API, and for easel, which serves the same API.

    from easel.client import Client

    with Client() as client:  # key from $STABILITY_API_KEY, host from $API_HOST
        client.generate_core("a lighthouse on a cliff").save("out/")  # v2beta
        job = client.upscale_creative("small.png", "a lighthouse")    # asynchronous
        job.wait(timeout=600).save("out/")

Depends on httpx only; nothing here imports easel's server packages.
"""

from ._base import DEFAULT_HOST, DEFAULT_TIMEOUT
from ._client import AsyncClient, Client
from ._errors import (
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
    MissingHostWarning,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    StabilityError,
    parse_error,
)
from ._jobs import AsyncGenerationJob, GenerationJob, GenerationTimeoutError
from ._media import MediaResult
from ._params import Param
from ._pricing import DEFAULT_PRICES, EnginePrice
from ._progress import GenerationProgress, ProgressCallback
from ._ratelimit import RateLimit, TokenBucket
from ._requests import ImageInput, PromptsInput
from ._retry import RetryPolicy
from ._types import Account, Artifact, Balance, Engine, GenerationResult, Organization, TextPrompt

__all__ = [
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
