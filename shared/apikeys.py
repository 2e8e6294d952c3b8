"""API keys for integrations (grid apps, Open311 city apps): issued once, stored hashed, scoped, revocable.

A key reads `mcc_<id>_<secret>`. Only the id and a SHA-256 of the whole key are stored: the key is 190 bits
of randomness, so a fast hash is enough (a slow password hash guards guessable secrets, which these are not)
and verification stays cheap at a thousand requests a second. The scope is a unit code (a county or a town;
None for the whole city): the service decides what the scope allows.

A request presents its key through `admit_key` (or the `header_key` dependency built on it), the one check every
service runs: an address blocked for failed authentications is refused first, a missing key is refused
without counting, a wrong one counts against the address, a good one against the key's rate. Each endpoint
keeps its documented refusal (grid's and intake's 401 field errors, Open311's 403 error list).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from sqlalchemy import Column, MetaData, String, Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import authentication_failed, refuse_if_blocked, within_key_rate
from shared.db import UTCDateTime
from shared.events.envelope import utcnow

_KEY = re.compile(r"^mcc_([0-9a-f]{12})_([A-Za-z0-9_-]{32})$")


def api_key_table(metadata: MetaData) -> Table:
    return Table("api_key", metadata,
                 Column("id", String(12), primary_key=True), Column("name", String(200), nullable=False),
                 Column("scope_unit", String(64), nullable=True), Column("key_hash", String(64), nullable=False),
                 Column("created_at", UTCDateTime(), nullable=False),
                 Column("revoked_at", UTCDateTime(), nullable=True))


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    scope_unit: str | None
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


async def issue(session: AsyncSession, table: Table, *, name: str, scope_unit: str | None) -> tuple[ApiKey, str]:
    """A new key in the caller's transaction: the record, and the plaintext to hand over once."""
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(24)
    plaintext = f"mcc_{key_id}_{secret}"
    record = ApiKey(key_id, name, scope_unit, utcnow())
    await session.execute(table.insert().values(id=key_id, name=name, scope_unit=scope_unit,
                                                key_hash=_digest(plaintext), created_at=record.created_at))
    return record, plaintext


async def verify(session: AsyncSession, table: Table, plaintext: str | None) -> ApiKey | None:
    """The active key this plaintext is, or None (malformed, unknown, revoked or wrong secret)."""
    match = _KEY.match(plaintext or "")
    if not match:
        return None
    row = (await session.execute(select(table).where(table.c.id == match.group(1)))).first()
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.key_hash, _digest(plaintext)):
        return None
    return ApiKey(row.id, row.name, row.scope_unit, row.created_at, row.revoked_at)


async def revoke(session: AsyncSession, table: Table, *, key_id: str) -> bool:
    """Revoke a key (in the caller's transaction); False when there is no such active key."""
    result = await session.execute(update(table).where(table.c.id == key_id, table.c.revoked_at.is_(None))
                                   .values(revoked_at=utcnow()))
    return bool(result.rowcount)


async def list_keys(session: AsyncSession, table: Table) -> list[ApiKey]:
    rows = (await session.execute(select(table).order_by(table.c.created_at))).all()
    return [ApiKey(r.id, r.name, r.scope_unit, r.created_at, r.revoked_at) for r in rows]


class KeyCache:
    """Verified keys kept for a few seconds, so a busy app's requests skip the key lookup.

    The price is that a revocation reaches other processes only when their entry expires (at most `ttl_s`);
    the process that revokes forgets the key at once. Only SHA-256 digests of keys are held, never keys.
    A service turns it on by putting one at `app.state.key_cache`.
    """

    def __init__(self, ttl_s: float, max_entries: int = 10_000) -> None:
        self.ttl_s, self.max_entries = ttl_s, max_entries
        self._entries: dict[str, tuple[ApiKey, float]] = {}
        self.lookups: dict[str, asyncio.Future[ApiKey | None]] = {}  # digest → the lookup under way

    def get(self, digest: str, now: float) -> ApiKey | None:
        hit = self._entries.get(digest)
        return hit[0] if hit is not None and hit[1] > now else None

    def put(self, digest: str, key: ApiKey, now: float) -> None:
        if digest not in self._entries and len(self._entries) >= self.max_entries:  # the oldest goes
            self._entries.pop(next(iter(self._entries)))
        self._entries[digest] = (key, now + self.ttl_s)

    def forget(self, key_id: str) -> None:
        for digest in [d for d, (k, _) in self._entries.items() if k.id == key_id]:
            del self._entries[digest]


async def verify_cached(new_uow: Callable[[], Any], table: Table, plaintext: str | None,
                        cache: KeyCache | None = None) -> ApiKey | None:
    """`verify` in a unit of work of its own, answered from the cache while a verified key's entry lasts."""
    if cache is None or cache.ttl_s <= 0:
        return await _verify_in_own_uow(new_uow, table, plaintext)
    now, digest = time.monotonic(), _digest(plaintext or "")
    if (hit := cache.get(digest, now)) is not None:
        return hit
    # The requests of a busy app that miss together (its entry just expired) share one lookup, not one
    # transaction each. Shielded: a client that goes away does not cancel the others' lookup.
    lookup = cache.lookups.get(digest)
    if lookup is None:
        lookup = cache.lookups[digest] = asyncio.ensure_future(_verify_in_own_uow(new_uow, table, plaintext))
        lookup.add_done_callback(lambda _: cache.lookups.pop(digest, None))
    key = await asyncio.shield(lookup)
    if key is not None:
        cache.put(digest, key, now)
    return key


async def _verify_in_own_uow(new_uow: Callable[[], Any], table: Table, plaintext: str | None) -> ApiKey | None:
    if not _KEY.match(plaintext or ""):
        return None  # malformed: nothing to look up
    async with new_uow() as uow:
        return await verify(uow.session, table, plaintext)


Refusal = Callable[[], Exception]


async def admit_key(request: Request, plaintext: str | None, *, table: Table, missing: Refusal,
                    invalid: Refusal) -> ApiKey:
    """The key a request presents, or the endpoint's refusal raised (429 for a blocked address or a key past
    its rate): a missing key is `missing()` and not counted; a wrong or revoked one is `invalid()`, counted
    against the client address's failed authentications."""
    refuse_if_blocked(request)
    if not plaintext:
        raise missing()
    state = request.app.state
    key = await verify_cached(state.runtime.uow, table, plaintext, getattr(state, "key_cache", None))
    if key is None:
        raise await authentication_failed(request, invalid())
    await within_key_rate(request, key)
    return key


def header_key(table: Table, *, missing: Refusal, invalid: Refusal) -> Any:
    """A FastAPI dependency (as an `Annotated` type) for the key in `X-Api-Key`, checked by `admit_key`."""

    async def integration_key(request: Request,
                              x_api_key: Annotated[str | None, Header(alias="X-Api-Key")] = None) -> ApiKey:
        return await admit_key(request, x_api_key, table=table, missing=missing, invalid=invalid)

    return Annotated[ApiKey, Depends(integration_key)]
