"""Failed sign-ins counted in Redis per login and per address; a lock for a while after too many.

Counters are keyed by a hash of what was typed, whether or not such a login exists, so a lock says nothing
about existence (and a password typed into the login field never sits in Redis in the clear). Failures
add up within a window (15 min, or the lock time if longer); the lock starts at the failure that reaches the
limit and lasts `lock_s`. When Redis cannot be reached, sign-in
waits for it (the caller answers 503): without the counters there is no protection against guessing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SignInLimits:
    max_failures: int = 5
    address_max_failures: int = 20
    lock_s: int = 900
    window_s: int = 900  # failures further apart than this do not add up


def _key(kind: str, value: str) -> str:
    return f"mcc:signin-fail:{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"


class SignInLimiter:
    """Counts failures; `locked_for` says how many seconds are left of a lock (0: none)."""

    def __init__(self, redis: Any, limits: SignInLimits) -> None:
        self.redis, self.limits = redis, limits

    def _keys(self, login: str, address: str | None) -> list[tuple[str, int]]:
        keys = [(_key("login", login.strip().lower()), self.limits.max_failures)]
        if address:
            keys.append((_key("addr", address), self.limits.address_max_failures))
        return keys

    async def locked_for(self, *, login: str, address: str | None) -> int:
        left = 0
        for key, limit in self._keys(login, address):
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.get(key)
                pipe.ttl(key)
                count, ttl = await pipe.execute()
            if count is not None and int(count) >= limit:
                left = max(left, int(ttl) if ttl and ttl > 0 else self.limits.lock_s)
        return left

    async def failed(self, *, login: str, address: str | None) -> int:
        """Count one failure; the seconds of the lock it started (0: not locked yet)."""
        locked = 0
        for key, limit in self._keys(login, address):
            count = await self.redis.incr(key)
            if count >= limit:  # the lock starts with the failure that reaches the limit
                await self.redis.expire(key, self.limits.lock_s)
            elif count == 1:  # the window opens with the first failure
                await self.redis.expire(key, max(self.limits.window_s, self.limits.lock_s))
            if count >= limit:
                locked = self.limits.lock_s
        return locked

    async def succeeded(self, *, login: str) -> None:
        """A good sign-in clears the login's count (not the address's: one good password unlocks no guessing)."""
        await self.redis.delete(_key("login", login.strip().lower()))
