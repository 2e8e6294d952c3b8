"""API keys for integrations (grid apps, Open311 city apps): issued once, stored hashed, scoped, revocable.

A key reads `mcc_<id>_<secret>`. Only the id and a SHA-256 of the whole key are stored: the key is 190 bits
of randomness, so a fast hash is enough (a slow password hash guards guessable secrets, which these are not)
and verification stays cheap at a thousand requests a second. The scope is a unit code (a county or a town;
None for the whole city): the service decides what the scope allows.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Column, MetaData, String, Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

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
