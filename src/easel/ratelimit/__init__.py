"""Per-API-key rate limiting (Stability's 150 requests / 10 s, then a 60 s lock-out).

The backends live in `easel.ratelimit.memory` and `easel.ratelimit.redis`;
only the composition root imports them, so importing this package never
imports `redis`.
"""

from easel.ratelimit.base import RateLimitDecision, RateLimiter, RateLimitPolicy

__all__ = ["RateLimitDecision", "RateLimitPolicy", "RateLimiter"]
