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


class FailedAuthentications:
    """Failed authentications (bad tokens, bad API keys) per client address: past `limit` in a window, every
    attempt from that address is refused (429) until the window ends, so a guess that happens to be right is
    refused too and a brute force learns nothing.

    Only failures are counted (one Redis INCR each, shared by every process of the service); a request with
    good credentials costs a dictionary lookup. A process that sees the shared count pass the limit blocks the
    address locally until the window ends. With Redis away, failures are counted in the process only.
    """

    def __init__(self, *, limit: int, window_s: int = 60, name: str = "authfail") -> None:
        self.limit, self.window_s, self.name = limit, window_s, name
        self._blocked: dict[str, float] = {}  # address → end of its window (time.time())
        self._local: dict[tuple[str, int], int] = {}

    def retry_after(self, address: str) -> int | None:
        """Seconds until this address may try again, or None when it is not blocked."""
        until = self._blocked.get(address)
        if until is None:
            return None
        left = until - time.time()
        if left <= 0:
            del self._blocked[address]
            return None
        return max(1, int(left + 0.999))

    async def failed(self, redis: Redis | None, address: str) -> int | None:
        """Count one failure; the seconds to wait when the address is now over its limit, else None."""
        window = int(time.time() // self.window_s)
        count = None
        if redis is not None:
            key = f"mcc:rl:{self.name}:{address}:{window}"
            try:
                async with redis.pipeline(transaction=True) as pipe:
                    pipe.incr(key)
                    pipe.expire(key, self.window_s + 1)
                    count, _ = await pipe.execute()
            except (RedisError, OSError) as exc:
                log.warning("failed authentications counted in this process only: redis unavailable",
                            extra={"error": str(exc)})
        if count is None:
            self._local = {k: v for k, v in self._local.items() if k[1] == window}
            count = self._local[(address, window)] = self._local.get((address, window), 0) + 1
        if count <= self.limit:
            return None
        self._blocked[address] = (window + 1) * self.window_s
        if len(self._blocked) > 100_000:  # a spray from many addresses: keep memory bounded
            now = time.time()
            self._blocked = {a: t for a, t in self._blocked.items() if t > now}
        return self.retry_after(address)
