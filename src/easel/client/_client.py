"""`Client` and `AsyncClient`: typed methods for every Stability v1 and v2beta
endpoint, over httpx, with retries, client-side throttling and a concurrency
limit.

They speak HTTP only, so they work unchanged against https://api.stability.ai
and against an easel server. The operations are declared once, in
`_operations.Operations`; each class implements its verbs (`_generate`,
`_media`, `_submit`, `_job`), which differ only in how they send and sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from . import _requests as build
from ._base import (
    DEFAULT_CLIENT_ID,
    DEFAULT_ENGINES_TTL,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_RATE_LIMIT,
    DEFAULT_RETRY,
    DEFAULT_TIMEOUT,
    EVENTS_TIMEOUT,
    STATUS_TIMEOUT,
    BaseClient,
    logger,
    new_idempotency_key,
    parse_engines,
    parse_prices,
)
from ._errors import APIResponseError, NotFoundError, parse_error
from ._jobs import AsyncGenerationJob, GenerationJob
from ._media import MediaResult
from ._operations import Operations
from ._pricing import DEFAULT_PRICES, EnginePrice, estimate
from ._progress import (
    ProgressCallback,
    ProgressReporter,
    events_path,
    is_live,
    status_path,
)
from ._ratelimit import RateLimit, TokenBucket
from ._requests import RequestSpec
from ._retry import RETRYABLE_EXCEPTIONS, RetryPolicy
from ._types import Account, Balance, Engine, GenerationResult, read_json

R = TypeVar("R")

_PRICING_PATH = "/v1/engines/pricing"
# Reconnecting to a job's events stream: the job may not exist yet.
FOLLOW_RETRY_MIN = 0.1
FOLLOW_RETRY_MAX = 2.0


def read_generation_id(response: httpx.Response) -> str:
    """The ``{"id": ...}`` an asynchronous submit answers."""
    body = read_json(response)
    if not isinstance(body, dict) or not isinstance(body.get("id"), str) or not body["id"]:
        raise APIResponseError(
            "expected {'id': ...} from an asynchronous submit", response=response
        )
    generation_id: str = body["id"]
    return generation_id


def _check_concurrency(max_concurrency: int | None) -> None:
    if max_concurrency is not None and max_concurrency < 1:
        raise ValueError(f"max_concurrency must be >= 1 or None, got {max_concurrency}")


class Client(BaseClient, Operations[GenerationResult, MediaResult, GenerationJob]):
    """Synchronous client for the Stability v1 REST API (and easel).

    Args:
        api_key: the key; else ``$STABILITY_API_KEY``, else ``$EASEL_API_KEY``
            (`MissingAPIKeyError` if none).
        host: base URL; else ``$API_HOST``, else ``https://api.stability.ai``.
        organization: sent as the ``Organization`` header to bill a
            non-default organization.
        client_id, client_version: the ``Stability-Client-ID`` / ``-Version``
            headers (default ``easel-python`` and the package version;
            ``client_id=None`` sends neither).
        timeout: httpx timeout; default 10 s to connect, 300 s otherwise, and
            for a generation a read timeout grown from its steps, samples and
            size. A timeout you pass is used as is.
        follow_progress: on easel, ask whether a generation whose attempt
            timed out still runs (and if so wait again, uncounted as a retry),
            and follow its events for ``on_progress``. Default: on for any
            host but ``https://api.stability.ai``, which has no such routes.
        retry: when and how long to back off (`RetryPolicy`).
        rate_limit: a `RateLimit` (this client gets its own bucket), a shared
            `TokenBucket`, or ``None`` to disable throttling.
        max_concurrency: most requests in flight at once (``None``: no limit).
        engines_ttl: seconds `engines()` and `pricing()` stay cached.
        transport: an httpx transport (tests pass ``httpx.MockTransport``).
        sleep, clock: injectable for tests.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        host: str | None = None,
        organization: str | None = None,
        client_id: str | None = DEFAULT_CLIENT_ID,
        client_version: str | None = None,
        timeout: httpx.Timeout | float | None = DEFAULT_TIMEOUT,
        retry: RetryPolicy = DEFAULT_RETRY,
        rate_limit: RateLimit | TokenBucket | None = DEFAULT_RATE_LIMIT,
        max_concurrency: int | None = DEFAULT_MAX_CONCURRENCY,
        engines_ttl: float = DEFAULT_ENGINES_TTL,
        follow_progress: bool | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            api_key=api_key,
            host=host,
            organization=organization,
            client_id=client_id,
            client_version=client_version,
            retry=retry,
            rate_limit=rate_limit,
            engines_ttl=engines_ttl,
            clock=clock,
            timeout=timeout,
            follow_progress=follow_progress,
        )
        _check_concurrency(max_concurrency)
        self._sleep = sleep
        self._slots: contextlib.AbstractContextManager[Any] = (
            threading.BoundedSemaphore(max_concurrency)
            if max_concurrency is not None
            else contextlib.nullcontext()
        )
        self._http = httpx.Client(
            base_url=self.host,
            headers=self._default_headers,
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- account and engines -------------------------------------------------

    def account(self) -> Account:
        """The user behind the key, with their organizations."""
        return Account.from_json(read_json(self._send(build.get("/v1/user/account"))))

    def balance(self) -> Balance:
        """Credits left in the (selected or default) organization."""
        return Balance.from_json(read_json(self._send(build.get("/v1/user/balance"))))

    def engines(self, *, refresh: bool = False) -> list[Engine]:
        """Engines the key may use; cached for ``engines_ttl`` unless `refresh`."""
        cached = None if refresh else self._engines_cache.get()
        if cached is None:
            cached = self._engines_cache.set(
                parse_engines(self._send(build.get("/v1/engines/list")))
            )
        return list(cached)

    def engine_options(self, *, refresh: bool = False) -> list[dict[str, str]]:
        """Engines as ``[{"label": name, "value": id}]`` for pickers and forms."""
        return [{"label": e.name, "value": e.id} for e in self.engines(refresh=refresh)]

    def pricing(self, *, refresh: bool = False) -> list[EnginePrice]:
        """The server's price list (easel), or the built-in estimates when the
        server has none (Stability's hosted API answers 404)."""
        cached = None if refresh else self._prices_cache.get()
        if cached is None:
            try:
                prices = parse_prices(self._send(build.get(_PRICING_PATH)))
            except NotFoundError:
                prices = list(DEFAULT_PRICES)
            cached = self._prices_cache.set(prices)
        return list(cached)

    def estimate_credits(
        self,
        engine_id: str,
        *,
        kind: str = "text-to-image",
        width: int = 512,
        height: int = 512,
        steps: int = 30,
        samples: int = 1,
    ) -> float:
        """Estimated credits for a request, rounded to 4 decimals.

        Uses the server's price list where it publishes one (easel), else
        built-in defaults (SDXL 0.9 credits per 1024x1024 image at 30 steps,
        other SD engines 0.9 per 512x512 at 30 steps, ESRGAN 0.2, latent
        upscaler 12). These are estimates, not quotes: the server decides.
        Generate/inpaint prices scale with pixels and steps; upscales are flat.

        Args:
            kind: ``text-to-image``, ``image-to-image``, ``masking`` or ``upscale``.
        """
        return estimate(
            self.pricing(),
            engine_id,
            kind=kind,
            width=width,
            height=height,
            steps=steps,
            samples=samples,
        )

    def cancel(self, generation_id: str) -> None:
        """Stop an in-progress generation (``DELETE /v1/generation/{id}``)."""
        self._send(build.cancel(generation_id))

    # -- transport -----------------------------------------------------------

    def _media(
        self,
        spec: RequestSpec,
        idempotency_key: str | None,
        on_progress: ProgressCallback | None,
    ) -> MediaResult:
        return self._generate(spec, idempotency_key, on_progress, read=MediaResult.from_response)

    def _submit(self, spec: RequestSpec, idempotency_key: str | None) -> GenerationJob:
        return self._job(read_generation_id(self._send(spec, idempotency_key)))

    def _job(self, generation_id: str) -> GenerationJob:
        return GenerationJob(self, generation_id)

    def _generate(
        self,
        spec: RequestSpec,
        idempotency_key: str | None,
        on_progress: ProgressCallback | None,
        read: Callable[[httpx.Response], R] = GenerationResult.from_response,  # type: ignore[assignment]
    ) -> R:
        key = idempotency_key or new_idempotency_key()
        stop = threading.Event()
        if on_progress is not None and self.follow_progress:
            threading.Thread(
                target=self._follow, args=(spec, key, on_progress, stop), daemon=True
            ).start()
        try:
            return read(self._send(spec, key))
        finally:
            stop.set()  # the stream ends with the job; the thread reports no more

    def _send(self, spec: RequestSpec, idempotency_key: str | None = None) -> httpx.Response:
        kwargs = self._request_kwargs(spec, idempotency_key)
        retries = 0
        while True:
            try:
                response = self._attempt(kwargs)
            except RETRYABLE_EXCEPTIONS as exc:
                if self._may_attach(spec, exc) and self._still_running(kwargs):
                    self._log_attach(spec)
                    continue
                delay = self._delay_after_error(exc, retries)
                if delay is None:
                    raise self._connection_error(exc) from exc
            except httpx.TransportError as exc:
                raise self._connection_error(exc) from exc
            else:
                if response.is_success:
                    return response
                delay = self._delay_after_response(response, retries)
                if delay is None:
                    raise parse_error(response)
            retries += 1
            self._sleep(delay)

    def _still_running(self, kwargs: dict[str, Any]) -> bool:
        key = kwargs["headers"]["Idempotency-Key"]
        try:
            return is_live(self._http.get(status_path(key), timeout=STATUS_TIMEOUT))
        except httpx.HTTPError:
            return False

    def _follow(
        self,
        spec: RequestSpec,
        key: str,
        on_progress: ProgressCallback,
        stop: threading.Event,
    ) -> None:
        """Report the job's events until it ends or `stop` is set (runs in a thread)."""
        reporter = ProgressReporter(spec, on_progress, self._clock)
        wait = FOLLOW_RETRY_MIN
        while not stop.is_set():
            try:
                with self._http.stream("GET", events_path(key), timeout=EVENTS_TIMEOUT) as stream:
                    if stream.status_code == 200:
                        reporter.reconnected()
                        for line in stream.iter_lines():
                            if stop.is_set() or reporter.feed(line):
                                return
            except httpx.HTTPError:
                pass  # the stream broke: ask again
            except Exception:
                logger.exception("on_progress failed; no more progress for this generation")
                return
            stop.wait(wait)  # the job may not exist yet
            wait = min(wait * 2, FOLLOW_RETRY_MAX)

    def _attempt(self, kwargs: dict[str, Any]) -> httpx.Response:
        with self._slots:
            wait = self._throttle_wait()
            if wait > 0:
                self._sleep(wait)
            return self._http.send(self._http.build_request(**kwargs))


class AsyncClient(
    BaseClient,
    Operations[Awaitable[GenerationResult], Awaitable[MediaResult], Awaitable[AsyncGenerationJob]],
):
    """Asynchronous client; the same arguments and methods as `Client`, awaited.

    `sleep` must be a coroutine function (default ``asyncio.sleep``); the
    concurrency limit is an ``asyncio.Semaphore``. Close with `aclose()` or
    ``async with``.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        host: str | None = None,
        organization: str | None = None,
        client_id: str | None = DEFAULT_CLIENT_ID,
        client_version: str | None = None,
        timeout: httpx.Timeout | float | None = DEFAULT_TIMEOUT,
        retry: RetryPolicy = DEFAULT_RETRY,
        rate_limit: RateLimit | TokenBucket | None = DEFAULT_RATE_LIMIT,
        max_concurrency: int | None = DEFAULT_MAX_CONCURRENCY,
        engines_ttl: float = DEFAULT_ENGINES_TTL,
        follow_progress: bool | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            api_key=api_key,
            host=host,
            organization=organization,
            client_id=client_id,
            client_version=client_version,
            retry=retry,
            rate_limit=rate_limit,
            engines_ttl=engines_ttl,
            clock=clock,
            timeout=timeout,
            follow_progress=follow_progress,
        )
        _check_concurrency(max_concurrency)
        self._sleep = sleep
        self._slots: contextlib.AbstractAsyncContextManager[Any] = (
            asyncio.Semaphore(max_concurrency)
            if max_concurrency is not None
            else contextlib.nullcontext()
        )
        self._http = httpx.AsyncClient(
            base_url=self.host,
            headers=self._default_headers,
            timeout=timeout,
            transport=transport,
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- account and engines -------------------------------------------------

    async def account(self) -> Account:
        """The user behind the key, with their organizations."""
        return Account.from_json(read_json(await self._send(build.get("/v1/user/account"))))

    async def balance(self) -> Balance:
        """Credits left in the (selected or default) organization."""
        return Balance.from_json(read_json(await self._send(build.get("/v1/user/balance"))))

    async def engines(self, *, refresh: bool = False) -> list[Engine]:
        """Engines the key may use; cached for ``engines_ttl`` unless `refresh`."""
        cached = None if refresh else self._engines_cache.get()
        if cached is None:
            cached = self._engines_cache.set(
                parse_engines(await self._send(build.get("/v1/engines/list")))
            )
        return list(cached)

    async def engine_options(self, *, refresh: bool = False) -> list[dict[str, str]]:
        """Engines as ``[{"label": name, "value": id}]`` for pickers and forms."""
        return [{"label": e.name, "value": e.id} for e in await self.engines(refresh=refresh)]

    async def pricing(self, *, refresh: bool = False) -> list[EnginePrice]:
        """The server's price list, or the built-in estimates on 404 (see `Client.pricing`)."""
        cached = None if refresh else self._prices_cache.get()
        if cached is None:
            try:
                prices = parse_prices(await self._send(build.get(_PRICING_PATH)))
            except NotFoundError:
                prices = list(DEFAULT_PRICES)
            cached = self._prices_cache.set(prices)
        return list(cached)

    async def estimate_credits(
        self,
        engine_id: str,
        *,
        kind: str = "text-to-image",
        width: int = 512,
        height: int = 512,
        steps: int = 30,
        samples: int = 1,
    ) -> float:
        """Estimated credits for a request (see `Client.estimate_credits`)."""
        return estimate(
            await self.pricing(),
            engine_id,
            kind=kind,
            width=width,
            height=height,
            steps=steps,
            samples=samples,
        )

    async def cancel(self, generation_id: str) -> None:
        """Stop an in-progress generation (``DELETE /v1/generation/{id}``)."""
        await self._send(build.cancel(generation_id))

    # -- transport -----------------------------------------------------------

    async def _media(
        self,
        spec: RequestSpec,
        idempotency_key: str | None,
        on_progress: ProgressCallback | None,
    ) -> MediaResult:
        return await self._generate(
            spec, idempotency_key, on_progress, read=MediaResult.from_response
        )

    async def _submit(self, spec: RequestSpec, idempotency_key: str | None) -> AsyncGenerationJob:
        return await self._job(read_generation_id(await self._send(spec, idempotency_key)))

    async def _job(self, generation_id: str) -> AsyncGenerationJob:
        return AsyncGenerationJob(self, generation_id)

    async def _generate(
        self,
        spec: RequestSpec,
        idempotency_key: str | None,
        on_progress: ProgressCallback | None,
        read: Callable[[httpx.Response], R] = GenerationResult.from_response,  # type: ignore[assignment]
    ) -> R:
        key = idempotency_key or new_idempotency_key()
        follower: asyncio.Task[None] | None = None
        if on_progress is not None and self.follow_progress:
            follower = asyncio.create_task(self._follow(spec, key, on_progress))
        try:
            return read(await self._send(spec, key))
        finally:
            if follower is not None:
                follower.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await follower

    async def _send(self, spec: RequestSpec, idempotency_key: str | None = None) -> httpx.Response:
        kwargs = self._request_kwargs(spec, idempotency_key)
        retries = 0
        while True:
            try:
                response = await self._attempt(kwargs)
            except RETRYABLE_EXCEPTIONS as exc:
                if self._may_attach(spec, exc) and await self._still_running(kwargs):
                    self._log_attach(spec)
                    continue
                delay = self._delay_after_error(exc, retries)
                if delay is None:
                    raise self._connection_error(exc) from exc
            except httpx.TransportError as exc:
                raise self._connection_error(exc) from exc
            else:
                if response.is_success:
                    return response
                delay = self._delay_after_response(response, retries)
                if delay is None:
                    raise parse_error(response)
            retries += 1
            await self._sleep(delay)

    async def _still_running(self, kwargs: dict[str, Any]) -> bool:
        key = kwargs["headers"]["Idempotency-Key"]
        try:
            return is_live(await self._http.get(status_path(key), timeout=STATUS_TIMEOUT))
        except httpx.HTTPError:
            return False

    async def _follow(self, spec: RequestSpec, key: str, on_progress: ProgressCallback) -> None:
        """Report the job's events until it ends (a task, cancelled when the request returns)."""
        reporter = ProgressReporter(spec, on_progress, self._clock)
        wait = FOLLOW_RETRY_MIN
        while True:
            try:
                async with self._http.stream(
                    "GET", events_path(key), timeout=EVENTS_TIMEOUT
                ) as stream:
                    if stream.status_code == 200:
                        reporter.reconnected()
                        async for line in stream.aiter_lines():
                            if reporter.feed(line):
                                return
            except httpx.HTTPError:
                pass  # the stream broke: ask again
            except Exception:
                logger.exception("on_progress failed; no more progress for this generation")
                return
            # The job may not exist yet. The real clock: the injected sleep is for retries.
            await asyncio.sleep(wait)
            wait = min(wait * 2, FOLLOW_RETRY_MAX)

    async def _attempt(self, kwargs: dict[str, Any]) -> httpx.Response:
        async with self._slots:
            wait = self._throttle_wait()
            if wait > 0:
                await self._sleep(wait)
            return await self._http.send(self._http.build_request(**kwargs))
