"""Idempotency keys: a client's retried create returns the first result and never makes a second record.

The key is stored in the same transaction as the record it created, under a unique (scope, key): two
concurrent requests with one key cannot both commit, and the loser answers with the winner's stored result.
A key reused with a different request body is the client's mistake and answers 422 (as Stripe does).
Keys are kept `IDEMPOTENCY_TTL` and then may be pruned (`prune`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    delete,
    select,
    tuple_,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import UTCDateTime
from shared.events.envelope import utcnow

HEADER = "Idempotency-Key"
IDEMPOTENCY_TTL = timedelta(days=7)
_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")  # printable ASCII, no spaces: UUIDs, ULIDs, app-made ids


class IdempotencyConflict(Exception):
    """The key was used before for a different request."""


def idempotency_table(metadata: MetaData) -> Table:
    return Table("idempotency_key", metadata,
                 Column("scope", String(100), nullable=False), Column("key", String(200), nullable=False),
                 Column("fingerprint", String(64), nullable=False), Column("status_code", Integer, nullable=False),
                 Column("body", JSON, nullable=False), Column("created_at", UTCDateTime(), nullable=False),
                 PrimaryKeyConstraint("scope", "key", name="pk_idempotency_key"))


def valid_key(key: str) -> bool:
    return bool(_KEY.match(key))


def fingerprint(payload: Any) -> str:
    """A stable hash of a request: the same JSON-able payload always gives the same value."""
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Stored:
    status_code: int
    body: Any
    replayed: bool


class IdempotencyKeys:
    """The stored answers of one service's idempotency table, in one transaction (`uow.idempotency_keys(table)`):
    the only place their SQL lives, so a handler test's in-memory unit of work can keep them instead."""

    def __init__(self, session: AsyncSession, table: Table) -> None:
        self.session, self.table = session, table

    async def find(self, pairs: Collection[tuple[str, str]]) -> dict[tuple[str, str], Any]:
        """The stored rows (fingerprint, status_code, body) of these (scope, key) pairs that exist, in one query."""
        if not pairs:
            return {}
        table = self.table
        rows = (await self.session.execute(select(
            table.c.scope, table.c.key, table.c.fingerprint, table.c.status_code, table.c.body)
            .where(tuple_(table.c.scope, table.c.key).in_(set(pairs))))).all()
        return {(r.scope, r.key): r for r in rows}

    async def lookup(self, *, scope: str, key: str, fingerprint: str) -> Stored | None:
        """The stored result for this key, or None; IdempotencyConflict when the key came with another request."""
        row = (await self.find([(scope, key)])).get((scope, key))
        if row is None:
            return None
        if row.fingerprint != fingerprint:
            raise IdempotencyConflict(f"{HEADER} {key!r} was already used for a different request")
        return Stored(row.status_code, row.body, replayed=True)

    async def remember(self, rows: list[dict[str, Any]]) -> None:
        """Store results (scope, key, fingerprint, status_code, body) in the caller's transaction, so they commit
        with the records they describe."""
        if rows:
            now = utcnow()
            await self.session.execute(self.table.insert(), [{"created_at": now, **row} for row in rows])


async def run_once(new_uow: Callable[[], Any], table: Table, *, scope: str, key: str, fingerprint: str,
                   create: Callable[[Any], Awaitable[tuple[int, Any]]]) -> Stored:
    """Run `create(uow)` (which stages rows and events but does not commit) at most once per key.

    `new_uow` makes a fresh shared.uow.UnitOfWork. A concurrent duplicate loses at commit on the key's
    primary key and answers the winner's stored result.
    """
    async with new_uow() as uow:
        keys = uow.idempotency_keys(table)
        stored = await keys.lookup(scope=scope, key=key, fingerprint=fingerprint)
        if stored is not None:
            return stored
        try:
            # On PostgreSQL the duplicate's insert waits for the winner's commit and fails right there.
            status_code, body = await create(uow)
            await keys.remember([{"scope": scope, "key": key, "fingerprint": fingerprint,
                                  "status_code": status_code, "body": body}])
            await uow.commit()
            return Stored(status_code, body, replayed=False)
        except IntegrityError:
            await uow.rollback()
    async with new_uow() as uow:
        stored = await uow.idempotency_keys(table).lookup(scope=scope, key=key, fingerprint=fingerprint)
        if stored is None:  # the integrity error was not about the key: let it surface
            raise RuntimeError(f"create for {HEADER} {key!r} failed with an integrity error")
        return stored


async def prune(session: AsyncSession, table: Table, *, older_than: timedelta = IDEMPOTENCY_TTL) -> int:
    """Delete keys older than the window; returns how many."""
    result = await session.execute(delete(table).where(table.c.created_at < utcnow() - older_than))
    return result.rowcount or 0
