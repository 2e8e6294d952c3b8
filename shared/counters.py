"""Human-readable running numbers (工单编号, 受理编号): unique across processes and restarts, no hot row.

A counter row per prefix and day holds the last number handed out, advanced only by a single
`INSERT .. ON CONFLICT DO UPDATE .. RETURNING` (so the day's first numbers never race to create the row).

- On PostgreSQL, `Numbers` reserves a *block* of numbers per process in a short transaction of its own, on a
  connection pool of its own (two connections), and hands them out from memory. The counter row is locked
  for the few microseconds of that upsert, never until the caller's commit, so appeals no longer queue behind
  one row lock; and a reservation never waits for a connection that a waiting request holds.
- On SQLite there is one writer at a time anyway: the upsert runs in the caller's transaction, one number at a
  time (a separate transaction would wait for the caller's own write lock).

Gaps are accepted and expected: the rest of a process's block is skipped when it stops, and a number
handed to a request that then fails is not reused. Numbers of one day are unique, not strictly in the order
of creation across processes (each process counts up through its own block).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence

from sqlalchemy import Column, Integer, MetaData, String, Table
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from shared.db import create_engine, is_sqlite, upsert_insert


def counter_table(metadata: MetaData) -> Table:
    return Table("counter", metadata, Column("name", String(64), primary_key=True),
                 Column("value", Integer, nullable=False))


async def _advance(db: AsyncSession | AsyncConnection, table: Table, name: str, count: int) -> int:
    """Add `count` to the counter `name` (creating it) in one statement; the new last value."""
    stmt = upsert_insert(db)(table).values(name=name, value=count)
    stmt = stmt.on_conflict_do_update(index_elements=[table.c.name],
                                      set_={"value": table.c.value + stmt.excluded.value})
    return int((await db.execute(stmt.returning(table.c.value))).scalar_one())


def _format(prefix: str, day: str, value: int, width: int, separator: str) -> str:
    return f"{prefix}{separator}{day}{separator}{value:0{width}d}"


async def next_number(session: AsyncSession, table: Table, *, prefix: str, day: str, width: int = 6,
                      separator: str = "") -> str:
    """The next number of the day in the caller's transaction, e.g. GD20261122000123.

    For low-volume counters (Open311 ids, the topology version): the row stays locked until the caller commits.
    """
    value = await _advance(session, table, f"{prefix}{day}", 1)
    return _format(prefix, day, value, width, separator)


async def reserve_numbers(session: AsyncSession, table: Table, *, prefix: str, day: str, count: int,
                          width: int = 6, separator: str = "") -> list[str]:
    """`count` consecutive numbers of the day in one statement of the caller's transaction."""
    if count <= 0:
        return []
    last = await _advance(session, table, f"{prefix}{day}", count)
    return [_format(prefix, day, n, width, separator) for n in range(last - count + 1, last + 1)]


class Numbers:
    """One process's source of running numbers (see the module's docstring)."""

    def __init__(self, table: Table, *, database_url: str, schema: str | None = None, block: int = 50) -> None:
        self.table = table
        self.block = max(block, 1)
        self._database_url, self._schema = database_url, schema
        self._embedded = is_sqlite(database_url)
        self._engine: AsyncEngine | None = None
        self._free: dict[tuple[str, str], deque[int]] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def next(self, session: AsyncSession, *, prefix: str, day: str, width: int = 6,
                   separator: str = "") -> str:
        """The next number of the day, e.g. 12345-20261202-000123."""
        return (await self.take(session, prefix=prefix, day=day, count=1, width=width, separator=separator))[0]

    async def take(self, session: AsyncSession, *, prefix: str, day: str, count: int, width: int = 6,
                   separator: str = "") -> list[str]:
        """`count` numbers of the day (ascending, not necessarily consecutive)."""
        if count <= 0:
            return []
        if self._embedded:
            return await reserve_numbers(session, self.table, prefix=prefix, day=day, count=count, width=width,
                                         separator=separator)
        values = await self._from_blocks(prefix, day, count)
        return [_format(prefix, day, v, width, separator) for v in values]

    async def _from_blocks(self, prefix: str, day: str, count: int) -> Sequence[int]:
        key = (prefix, day)
        for stale in [k for k in self._free if k[0] == prefix and k[1] != day]:
            del self._free[stale]  # yesterday's block: its rest is skipped
            self._locks.pop(stale, None)
        free = self._free.setdefault(key, deque())
        if len(free) < count:
            async with self._locks.setdefault(key, asyncio.Lock()):
                if len(free) < count:  # another task may have refilled it while this one waited
                    size = max(self.block, count)
                    last = await self._reserve(f"{prefix}{day}", size)
                    free.extend(range(last - size + 1, last + 1))
        # No await between the check above and here: no other task can take these numbers meanwhile.
        return [free.popleft() for _ in range(count)]

    async def _reserve(self, name: str, size: int) -> int:
        if self._engine is None:
            self._engine = create_engine(self._database_url, schema=self._schema, pool_size=1)
        async with self._engine.begin() as conn:
            return await _advance(conn, self.table, name, size)

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None
