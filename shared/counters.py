"""Human-readable running numbers (工单编号, 受理编号) from a counter row per prefix and day."""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table, update
from sqlalchemy.ext.asyncio import AsyncSession


def counter_table(metadata: MetaData) -> Table:
    return Table("counter", metadata, Column("name", String(64), primary_key=True),
                 Column("value", Integer, nullable=False))


async def next_number(session: AsyncSession, table: Table, *, prefix: str, day: str, width: int = 6,
                      separator: str = "") -> str:
    """The next number of the day in the caller's transaction, e.g. GD20261122000123.

    The row update takes a row lock, so two processes never hand out the same number.
    """
    name = f"{prefix}{day}"
    result = await session.execute(
        update(table).where(table.c.name == name).values(value=table.c.value + 1).returning(table.c.value))
    value = result.scalar_one_or_none()
    if value is None:
        await session.execute(table.insert().values(name=name, value=1))
        value = 1
    return f"{prefix}{separator}{day}{separator}{value:0{width}d}"


async def reserve_numbers(session: AsyncSession, table: Table, *, prefix: str, day: str, count: int,
                          width: int = 6, separator: str = "") -> list[str]:
    """`count` consecutive numbers of the day in one statement (for a batch created in one transaction)."""
    if count <= 0:
        return []
    name = f"{prefix}{day}"
    result = await session.execute(
        update(table).where(table.c.name == name).values(value=table.c.value + count).returning(table.c.value))
    last = result.scalar_one_or_none()
    if last is None:
        await session.execute(table.insert().values(name=name, value=count))
        last = count
    return [f"{prefix}{separator}{day}{separator}{n:0{width}d}" for n in range(last - count + 1, last + 1)]
