"""Intake's reads by many keys at once, for consumers that handle a fetched batch in one transaction."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.adapters.orm import Incident, OrderStatus


async def known_incidents(session: AsyncSession, incident_ids: Collection[str]) -> set[str]:
    """Which of these incident ids intake has recorded already."""
    if not incident_ids:
        return set()
    found = await session.execute(select(Incident.id).where(Incident.id.in_(list(incident_ids))))
    return set(found.scalars())


async def order_statuses(session: AsyncSession, incident_ids: Collection[str]) -> dict[str, OrderStatus]:
    """The order-status rows of these incidents, by incident id (locked on PostgreSQL until commit)."""
    if not incident_ids:
        return {}
    query = select(OrderStatus).where(OrderStatus.incident_id.in_(sorted(incident_ids))).with_for_update()
    return {row.incident_id: row for row in (await session.execute(query)).scalars()}
