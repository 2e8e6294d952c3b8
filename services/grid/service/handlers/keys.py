"""Integration keys of grid apps: issue, list, revoke, verify (with a short cache)."""

from __future__ import annotations

import hashlib
import time

from services.grid.adapters.uow import GridUnitOfWork
from services.grid.service.handlers.common import KEYS
from shared import apikeys
from shared.errors import Invalid


async def issue_key(*, uow: GridUnitOfWork, name: str, scope_unit: str | None) -> tuple[apikeys.ApiKey, str]:
    """Issue an integration key scoped to a county or town of the registry (None: the whole city)."""
    async with uow:
        if scope_unit is not None and not await uow.registry.knows_unit(scope_unit):
            raise Invalid("scope_unit", f"{scope_unit} 不是网格登记中的区县或镇街",
                          type="unknown_unit")
        record, plaintext = await apikeys.issue(uow.session, KEYS, name=name, scope_unit=scope_unit)
        await uow.commit()
        return record, plaintext


async def list_keys(*, uow: GridUnitOfWork) -> list[apikeys.ApiKey]:
    """Every key issued, revoked ones included (never the secrets)."""
    async with uow:
        return await apikeys.list_keys(uow.session, KEYS)


async def revoke_key(*, uow: GridUnitOfWork, key_id: str, cache: KeyCache | None = None) -> bool:
    """Revoke a key (this process forgets it at once, others within the key cache's TTL)."""
    async with uow:
        done = await apikeys.revoke(uow.session, KEYS, key_id=key_id)
        await uow.commit()
    if cache is not None:
        cache.forget(key_id)
    return done


class KeyCache:
    """Verified keys kept for a few seconds, so a busy app's requests skip the key lookup.

    The price is that a revocation reaches other processes only when their entry expires (at most `ttl_s`);
    the process that revokes forgets the key at once. Only SHA-256 digests of keys are held, never keys.
    """

    def __init__(self, ttl_s: float, max_entries: int = 10_000) -> None:
        self.ttl_s, self.max_entries = ttl_s, max_entries
        self._entries: dict[str, tuple[apikeys.ApiKey, float]] = {}

    def get(self, digest: str, now: float) -> apikeys.ApiKey | None:
        hit = self._entries.get(digest)
        return hit[0] if hit is not None and hit[1] > now else None

    def put(self, digest: str, key: apikeys.ApiKey, now: float) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[digest] = (key, now + self.ttl_s)

    def forget(self, key_id: str) -> None:
        for digest in [d for d, (k, _) in self._entries.items() if k.id == key_id]:
            del self._entries[digest]


async def verify_key(*, uow: GridUnitOfWork, plaintext: str | None, cache: KeyCache | None = None) -> apikeys.ApiKey | None:
    """The active key a request presents, or None."""
    now = time.monotonic()
    digest = hashlib.sha256((plaintext or "").encode()).hexdigest()
    if cache is not None and cache.ttl_s > 0 and (hit := cache.get(digest, now)) is not None:
        return hit
    async with uow:
        key = await apikeys.verify(uow.session, KEYS, plaintext)
    if key is not None and cache is not None and cache.ttl_s > 0:
        cache.put(digest, key, now)
    return key
