"""Where hotline keeps its copy of dispatch's organisation tree: one row, the newest snapshot."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.hotline.adapters.orm import OrgTreeSnapshot


async def latest(session: AsyncSession) -> OrgTreeSnapshot | None:
    """The newest snapshot stored, if any."""
    query = select(OrgTreeSnapshot).order_by(OrgTreeSnapshot.version.desc()).limit(1)
    return (await session.execute(query)).scalars().first()


async def replace(session: AsyncSession, *, version: int, units: list[dict[str, Any]], fetched_at: datetime) -> None:
    """Store this snapshot in place of whatever was stored (dispatch's answer wins, even with a lower version:
    a tree rebuilt from scratch restarts its numbering)."""
    await session.execute(delete(OrgTreeSnapshot))
    session.add(OrgTreeSnapshot(version=version, unit_count=len(units), units=units, fetched_at=fetched_at))
