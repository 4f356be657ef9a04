"""Redis rate limiter: one limit shared by several API processes.

Implements the sliding log of `base` in one Lua script, so each decision is
atomic however many processes hit the same key. Per key there are two Redis
keys, `<prefix>{<key>}:log` (a sorted set of allowed requests scored by
time) and `<prefix>{<key>}:lock` (the lock-out's end time); the hash tag keeps
both in one Redis Cluster slot. Each carries a TTL no longer than the state
it holds stays relevant, so idle keys disappear on their own.

Time comes from the caller's clock, passed into the script as an argument
(not Redis `TIME`), so tests can move it; in production the API hosts'
clocks should be NTP-synchronised, as any shared wall-clock limit requires.
This is the only module that imports `redis`.

Unreachable Redis: a decision that cannot reach Redis (refused, timed out,
still loading its data after a restart) raises `Overloaded` (503 with
`Retry-After`), never lets the request through unlimited and never answers
500. The client reconnects on the next hit, so the limit recovers on its own
once Redis is back.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

import redis.asyncio
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from easel.errors import Overloaded
from easel.ratelimit.base import RateLimitDecision, RateLimitPolicy

log = logging.getLogger("easel.ratelimit")

# what a refused request is told to wait while Redis is unreachable
UNAVAILABLE_RETRY_AFTER = 5
# a Redis that does not answer costs a request this long, not the client's 5 s default
# (a `socket_timeout` / `socket_connect_timeout` in the URL wins)
SOCKET_TIMEOUT_SECONDS = 2.0

# KEYS: log, lock. ARGV: now, limit, window, lockout, member (unique per hit).
# Returns {allowed, remaining, retry_after, reset_after}; the floats travel as
# "%.17g" strings because Redis truncates Lua numbers to integers in replies.
# TTLs are in Redis' own time and only collect garbage: every decision reads
# the stored timestamps, never the TTL.
_HIT_SCRIPT = """
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local lockout = tonumber(ARGV[4])
local function fmt(x) return string.format('%.17g', x) end

local locked_until = tonumber(redis.call('GET', KEYS[2]) or '0')
if locked_until > now then
  local wait = fmt(locked_until - now)
  return {0, 0, wait, wait}
end

redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', fmt(now - window))
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[5])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
  local oldest = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2])
  return {1, limit - count - 1, '0', fmt(oldest + window - now)}
end

local oldest = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2])
local wait = math.max(lockout, oldest + window - now)
redis.call('SET', KEYS[2], fmt(now + wait), 'PX', math.max(1, math.ceil(wait * 1000)))
return {0, 0, fmt(wait), fmt(wait)}
"""


class RedisRateLimiter:
    """Sliding-log rate limiter whose state lives in Redis.

    Args:
        policy: the limit to enforce.
        url: a `redis://` URL; the limiter creates a client (with a blocking
            connection pool) and closes it in `aclose`. Give either `url` or
            `client`.
        client: an existing `redis.asyncio.Redis`; the caller keeps ownership
            and closes it. Its pool should block rather than raise when
            exhausted, or a burst of concurrent hits can fail.
        prefix: prepended to every Redis key this limiter writes.
        clock: returns the current time in seconds; injectable so tests can
            move time without sleeping.
    """

    def __init__(
        self,
        policy: RateLimitPolicy,
        url: str | None = None,
        client: redis.asyncio.Redis | None = None,
        prefix: str = "easel:rl:",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if url is not None and client is not None:
            raise ValueError("give url or client, not both")
        self._owns_client = client is None
        if client is None:
            if url is None:
                raise ValueError("give url or client")
            # A blocking pool makes a burst of hits wait for a free connection;
            # the default pool raises MaxConnectionsError past its size, which
            # would turn a traffic spike into 500s. Size and wait come from the
            # URL (`?max_connections=50&timeout=20` are the defaults).
            pool = redis.asyncio.BlockingConnectionPool.from_url(
                url,
                socket_timeout=SOCKET_TIMEOUT_SECONDS,
                socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
            )
            client = redis.asyncio.Redis.from_pool(pool)
        self.policy = policy
        self.prefix = prefix
        self._client = client
        self._clock = clock
        self._script = client.register_script(_HIT_SCRIPT)
        self._unreachable = False

    async def hit(self, key: str) -> RateLimitDecision:
        """Count one request from `key` and decide on it; `Overloaded` if Redis is unreachable."""
        policy = self.policy
        base = f"{self.prefix}{{{key}}}"
        try:
            reply = await self._script(
                keys=[f"{base}:log", f"{base}:lock"],
                args=[
                    repr(float(self._clock())),
                    policy.requests,
                    repr(float(policy.window_seconds)),
                    repr(float(policy.lockout_seconds)),
                    uuid.uuid4().hex,
                ],
            )
        except (RedisConnectionError, RedisTimeoutError) as exc:
            if not self._unreachable:  # once per outage, not once per request
                log.warning("rate limiter cannot reach Redis (%s); answering 503", exc)
            self._unreachable = True
            raise Overloaded(
                "The rate limiter is unavailable; try again shortly.",
                retry_after=UNAVAILABLE_RETRY_AFTER,
                name="rate_limiter_unavailable",
            ) from exc
        if self._unreachable:
            log.warning("rate limiter reached Redis again")
            self._unreachable = False
        allowed, remaining, retry_after, reset_after = reply
        return RateLimitDecision(
            allowed=bool(allowed),
            limit=policy.requests,
            remaining=int(remaining),
            retry_after=float(retry_after),
            reset_after=float(reset_after),
        )

    async def aclose(self) -> None:
        """Close the Redis client if this limiter created it."""
        if self._owns_client:
            await self._client.aclose()
