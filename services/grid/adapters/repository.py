"""Grid's SQL that several use cases share: named counters and chunked bulk inserts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.grid.adapters.orm import metadata

COUNTERS = metadata.tables["counter"]


async def counter(session: AsyncSession, name: str) -> int:
    """A named counter's value (0 before its first bump)."""
    value = (await session.execute(select(COUNTERS.c.value).where(COUNTERS.c.name == name))).scalar()
    return int(value or 0)


async def bump(session: AsyncSession, name: str, *, by: int = 1) -> int:
    """Advance a named counter and answer its new value."""
    # The row update holds a row lock to commit, so sequence order is commit order (see docs/grid.md).
    result = await session.execute(update(COUNTERS).where(COUNTERS.c.name == name)
                                   .values(value=COUNTERS.c.value + by).returning(COUNTERS.c.value))
    value = result.scalar_one_or_none()
    if value is None:
        await session.execute(COUNTERS.insert().values(name=name, value=by))
        value = by
    return int(value)


async def ensure_counters(session: AsyncSession, names: Sequence[str]) -> None:
    """Create the named counters that do not exist yet, at 0."""
    for name in names:
        if (await session.execute(select(COUNTERS.c.name).where(COUNTERS.c.name == name))).first() is None:
            await session.execute(COUNTERS.insert().values(name=name, value=0))


async def bulk(session: AsyncSession, table: Any, rows: Sequence[dict[str, Any]], chunk: int = 2000) -> None:
    """Insert rows in chunks of multi-row INSERTs (SQLAlchemy's "insertmanyvalues" on both databases)."""
    for start in range(0, len(rows), chunk):
        await session.execute(table.insert(), list(rows[start:start + chunk]))
