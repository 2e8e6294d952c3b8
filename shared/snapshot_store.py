"""A followed snapshot stored in the follower's own database (shared.snapshots' store): one table per copy,
one row in it, the newest. A restart while the source is down then starts from the copy it had.

The table has `version` (primary key), the payload's list under its own name (`grids`, `units`), that
list's length, and `fetched_at`. The source's answer wins even when its version went back: a registry or a
tree rebuilt from scratch restarts its numbering, and a copy newer than the source is a copy of nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.events.envelope import utcnow
from shared.snapshots import Snapshot
from shared.uow import UnitOfWork


async def latest_row(session: AsyncSession, table: Any) -> Any | None:
    """The newest stored row of `table` (an ORM class), if any."""
    return (await session.execute(select(table).order_by(table.version.desc()).limit(1))).scalars().first()


class TableStore:
    """`table` (an ORM class) as a follower's store; `items` names its payload column, `count` its length's."""

    def __init__(self, new_uow: Callable[[], UnitOfWork], table: Any, *, items: str, count: str) -> None:
        self.new_uow, self.table, self.items, self.count = new_uow, table, items, count

    async def load(self) -> Snapshot | None:
        async with self.new_uow() as uow:
            row = await latest_row(uow.session, self.table)
        return None if row is None else Snapshot(row.version, getattr(row, self.items))

    async def save(self, snapshot: Snapshot) -> None:
        async with self.new_uow() as uow:
            await uow.session.execute(delete(self.table))
            uow.session.add(self.table(version=snapshot.version, fetched_at=utcnow(),
                                       **{self.items: snapshot.payload, self.count: len(snapshot.payload)}))
            await uow.commit()
