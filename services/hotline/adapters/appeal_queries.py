"""The SQL behind duplicate detection: bounded reads by index, whatever the number of appeals on file."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Select, and_, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.hotline.adapters.orm import Appeal

TABLE = Appeal.__table__  # type: ignore[attr-defined]

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
# Core columns, not the entity's attributes: a statement of ORM attributes goes through the ORM's compile and
# loading steps for nothing (about 0.1 ms more per statement).
_COMPARED = tuple(TABLE.c[name] for name in ("id", "number", "master_number", "caller_phone", "category_code", "lon",
                                             "lat", "cell", "created_at"))


async def recent_by_callers(session: AsyncSession, *, phones: list[str], since: datetime,
                            limit: int) -> Sequence[Any]:
    """Several callers' appeals with an order since `since`, newest first (index on caller, time)."""
    c = TABLE.c
    return (await session.execute(
        select(*_COMPARED).where(c.caller_phone.in_(phones), c.created_at >= since, c.disposition.in_(_WITH_ORDER))
        .order_by(c.created_at.desc()).limit(limit))).all()


async def recent_in_boxes(session: AsyncSession, *, boxes: list[tuple[str, tuple[float, float, float, float]]],
                          cells: list[int] | None, since: datetime, limit: int) -> Sequence[Any]:
    """Appeals with an order since `since` in these cells (all cells: None) that lie in a box of their category
    (category, (west, south, east, north)), newest first. The index on (category, cell, time) bounds the read;
    the boxes keep back the rows no check looks at (most of a cell lies outside a 300 m box)."""
    shape = 1 << (len(boxes) - 1).bit_length()  # a few statements, not one per group size: the last box repeats
    params: dict[str, Any] = {"categories": sorted({category for category, _ in boxes}), "since": since,
                              "limit": limit}
    for n in range(shape):
        category, (west, south, east, north) = boxes[min(n, len(boxes) - 1)]
        params.update({f"c{n}": category, f"w{n}": west, f"s{n}": south, f"e{n}": east, f"n{n}": north})
    if cells is not None:
        params["cells"] = cells
    return (await session.execute(_in_boxes(shape, all_cells=cells is None), params)).all()


@functools.cache
def _in_boxes(boxes: int, *, all_cells: bool) -> Select[Any]:
    """The statement of `recent_in_boxes` for this many boxes, built once: building a few hundred expressions per
    group cost more than the read."""
    c = TABLE.c
    within = or_(*(and_(c.category_code == bindparam(f"c{n}"), c.lon.between(bindparam(f"w{n}"), bindparam(f"e{n}")),
                        c.lat.between(bindparam(f"s{n}"), bindparam(f"n{n}"))) for n in range(boxes)))
    query = select(*_COMPARED).where(c.category_code.in_(bindparam("categories", expanding=True)),
                                     c.created_at >= bindparam("since"), within, c.disposition.in_(_WITH_ORDER))
    if not all_cells:
        query = query.where(c.cell.in_(bindparam("cells", expanding=True)))
    return query.order_by(c.created_at.desc()).limit(bindparam("limit", type_=Integer))


_LISTED = tuple(TABLE.c[name] for name in ("number", "order_number", "status", "category_code", "description",
                                           "linked_count"))


async def by_numbers(session: AsyncSession, numbers: list[str]) -> dict[str, Any]:
    """Appeals by 受理编号, as plain rows of what a candidate lists (number, order_number, status,
    category_code, description, linked_count)."""
    if not numbers:
        return {}
    rows = (await session.execute(select(*_LISTED).where(TABLE.c.number.in_(numbers)))).all()
    return {r.number: r for r in rows}
