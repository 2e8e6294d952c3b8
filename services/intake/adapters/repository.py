"""Intake's reads by many keys at once, for consumers that handle a fetched batch in one transaction."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.adapters.orm import Incident, OrderStatus

_STATUS = OrderStatus.__table__  # type: ignore[attr-defined]


async def known_incidents(session: AsyncSession, incident_ids: Collection[str]) -> set[str]:
    """Which of these incident ids intake has recorded already."""
    if not incident_ids:
        return set()
    found = await session.execute(select(Incident.id).where(Incident.id.in_(list(incident_ids))))
    return set(found.scalars())


async def order_statuses(session: AsyncSession, incident_ids: Collection[str]) -> dict[str, dict[str, Any]]:
    """The order-status rows of these incidents as plain values, by incident id (locked on PostgreSQL until
    commit)."""
    if not incident_ids:
        return {}
    query = select(*_STATUS.c).where(_STATUS.c.incident_id.in_(sorted(incident_ids))).with_for_update()
    return {row["incident_id"]: dict(row) for row in (await session.execute(query)).mappings()}


async def write_order_statuses(session: AsyncSession, *, new: list[dict[str, Any]],
                               changed: list[dict[str, Any]]) -> None:
    """New order-status rows in one multi-row INSERT, changed ones in one executemany UPDATE."""
    if new:
        await session.execute(_STATUS.insert(), new)
    if changed:
        columns = [c.name for c in _STATUS.c if c.name != "incident_id"]
        await session.execute(
            update(_STATUS).where(_STATUS.c.incident_id == bindparam("b_incident_id"))
            .values({name: bindparam(f"b_{name}", type_=_STATUS.c[name].type) for name in columns}),
            [{f"b_{k}": v for k, v in row.items()} for row in changed])
