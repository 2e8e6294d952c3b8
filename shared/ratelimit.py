"""Rate limits per API key in Redis: a fixed window counter shared by every process of a service.

Fixed windows allow a burst of up to twice the limit across a window boundary; for protecting a service from
a runaway phone app that is fine, and it costs one round trip. When Redis is unreachable the request is let
through and the failure logged: reporting an incident matters more than enforcing a quota.

`KeyRates` counts the requests of one process that arrive together in one round trip (INCRBY by how many
came, per key): each request is still given its own place in the window's count, so the answers are those of
one INCR each, at a fraction of the round trips and of the client's CPU under load.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field

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


@dataclass
class _Hit:
    redis: Redis
    name: str
    limit: int
    window_s: int
    future: asyncio.Future[RateDecision] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class KeyRates:
    """`hit` for the requests of one process: those waiting while a count is in flight go together in the next.

    Whoever finds no count in flight takes every request queued so far (any keys) and counts them in one
    MULTI/EXEC: INCRBY n and EXPIRE per key and window. The i-th of a key's n requests gets the count
    total - n + i, the value its own INCR would have answered, so the limit and the 429s are unchanged.
    """

    def __init__(self) -> None:
        self._queue: list[_Hit] = []
        self._lock = asyncio.Lock()

    async def hit(self, redis: Redis, *, name: str, limit: int, window_s: int = 60) -> RateDecision:
        request = _Hit(redis, name, limit, window_s)
        self._queue.append(request)
        while not request.future.done():
            async with self._lock:
                if request.future.done():
                    break
                group = [h for h in self._queue if h.redis is redis]
                self._queue = [h for h in self._queue if h.redis is not redis]
                if group:
                    # Shielded: a client that goes away must not leave the others of its group unanswered.
                    await asyncio.shield(self._count(redis, group))
                    continue
            await asyncio.wait([request.future])  # in a count whose caller went away; it ends all the same
        return request.future.result()

    async def _count(self, redis: Redis, group: list[_Hit]) -> None:
        now = time.time()
        slots: dict[tuple[str, int, int], list[_Hit]] = defaultdict(list)
        for h in group:
            slots[(h.name, h.window_s, int(now // h.window_s))].append(h)
        try:
            async with redis.pipeline(transaction=True) as pipe:
                for name, window_s, window in slots:
                    key = f"mcc:rl:{name}:{window}"
                    pipe.incrby(key, len(slots[(name, window_s, window)]))
                    pipe.expire(key, window_s + 1)
                counts = (await pipe.execute())[::2]
        except (RedisError, OSError) as exc:
            log.warning("rate limit not enforced: redis unavailable", extra={"error": str(exc)})
            counts = None
        except BaseException as exc:  # noqa: BLE001 - whatever it was, no request of the group may hang
            for h in group:
                if not h.future.done():
                    h.future.set_exception(exc)
            raise
        for n, ((_, window_s, _), hits) in enumerate(slots.items()):
            retry_after = window_s - int(now % window_s)
            first = counts[n] - len(hits) if counts is not None else 0
            for i, h in enumerate(hits, start=1):
                if counts is None:
                    decision = RateDecision(True, h.limit, h.limit, 0)
                else:
                    count = first + i
                    decision = RateDecision(count <= h.limit, h.limit, max(0, h.limit - count), retry_after)
                if not h.future.done():
                    h.future.set_result(decision)


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
