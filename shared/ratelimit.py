"""Rate limits per API key in Redis: a fixed window counter shared by every process of a service.

Fixed windows allow a burst of up to twice the limit across a window boundary; for protecting a service from
a runaway phone app that is fine, and it costs one round trip. When Redis is unreachable the request is let
through and the failure logged: reporting an incident matters more than enforcing a quota.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    retry_after_s: int

    def headers(self) -> dict[str, str]:
        out = {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining)}
        if not self.allowed:
            out["Retry-After"] = str(self.retry_after_s)
        return out


async def hit(redis: Redis, *, name: str, limit: int, window_s: int = 60) -> RateDecision:
    """Count one request against `name`'s quota of `limit` per `window_s` seconds."""
    window = int(time.time() // window_s)
    key = f"mcc:rl:{name}:{window}"
    try:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, window_s + 1)
            count, _ = await pipe.execute()
    except (RedisError, OSError) as exc:
        log.warning("rate limit not enforced: redis unavailable", extra={"error": str(exc)})
        return RateDecision(True, limit, limit, 0)
    retry_after = window_s - int(time.time() % window_s)
    return RateDecision(count <= limit, limit, max(0, limit - count), retry_after)
