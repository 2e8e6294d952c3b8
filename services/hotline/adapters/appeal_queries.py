"""The SQL behind duplicate detection: bounded reads by index, whatever the number of appeals on file."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.hotline.adapters.orm import Appeal

# Only appeals that are, or hang on, an order can be offered as the order a new call duplicates.
_WITH_ORDER = ("dispatched", "linked")


async def recent_by_caller(session: AsyncSession, *, phone: str, since: datetime, limit: int) -> Sequence[Appeal]:
    """A caller's appeals with an order since `since`, newest first (index on caller, time)."""
    return (await session.execute(
        select(Appeal).where(Appeal.caller_phone == phone, Appeal.created_at >= since,
                             Appeal.disposition.in_(_WITH_ORDER))
        .order_by(Appeal.created_at.desc()).limit(limit))).scalars().all()


async def recent_nearby(session: AsyncSession, *, category_code: str, cells: list[int] | None,
                        box: tuple[float, float, float, float], since: datetime, limit: int) -> Sequence[Appeal]:
    """Same-category appeals with an order since `since` in these cells and inside the box, newest first."""
    query = nearby_query(category_code=category_code, cells=cells, box=box, since=since, limit=limit)
    return (await session.execute(query)).scalars().all()


def nearby_query(*, category_code: str, cells: list[int] | None, box: tuple[float, float, float, float],
                 since: datetime, limit: int) -> Select[tuple[Appeal]]:
    """The index on (category, cell, time) bounds the read by space and time; the box trims the cells' corners."""
    west, south, east, north = box
    query = select(Appeal).where(Appeal.category_code == category_code, Appeal.created_at >= since,
                                 Appeal.lat.between(south, north), Appeal.lon.between(west, east),
                                 Appeal.disposition.in_(_WITH_ORDER))
    if cells is not None:
        query = query.where(Appeal.cell.in_(cells))
    return query.order_by(Appeal.created_at.desc()).limit(limit)


# What the duplicate check compares, read as plain rows: an ORM object per row cost more than the check itself.
_COMPARED = (Appeal.id, Appeal.number, Appeal.master_number, Appeal.caller_phone, Appeal.category_code, Appeal.lon,
             Appeal.lat, Appeal.cell, Appeal.created_at)


async def recent_by_callers(session: AsyncSession, *, phones: list[str], since: datetime,
                            limit: int) -> Sequence[Any]:
    """Several callers' appeals with an order since `since`, newest first (index on caller, time)."""
    return (await session.execute(
        select(*_COMPARED).where(Appeal.caller_phone.in_(phones), Appeal.created_at >= since,
                                 Appeal.disposition.in_(_WITH_ORDER))
        .order_by(Appeal.created_at.desc()).limit(limit))).all()


async def recent_in_cells(session: AsyncSession, *, categories: list[str], cells: list[int] | None, since: datetime,
                          limit: int) -> Sequence[Any]:
    """Appeals with an order since `since` in these categories and cells (all cells: None), newest first."""
    query = select(*_COMPARED).where(Appeal.category_code.in_(categories), Appeal.created_at >= since,
                                     Appeal.lat.is_not(None), Appeal.disposition.in_(_WITH_ORDER))
    if cells is not None:
        query = query.where(Appeal.cell.in_(cells))
    return (await session.execute(query.order_by(Appeal.created_at.desc()).limit(limit))).all()


async def by_numbers(session: AsyncSession, numbers: list[str]) -> dict[str, Appeal]:
    """Appeals by 受理编号."""
    if not numbers:
        return {}
    rows = (await session.execute(select(Appeal).where(Appeal.number.in_(numbers)))).scalars()
    return {r.number: r for r in rows}
