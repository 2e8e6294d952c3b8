"""Where intake keeps its copy of grid's registry: one row per snapshot, only the newest kept."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.adapters.orm import GridRegistrySnapshot


async def latest(session: AsyncSession) -> GridRegistrySnapshot | None:
    """The newest snapshot stored, if any."""
    query = select(GridRegistrySnapshot).order_by(GridRegistrySnapshot.version.desc()).limit(1)
    return (await session.execute(query)).scalars().first()


async def replace(session: AsyncSession, *, version: int, grids: list[dict[str, Any]], fetched_at: datetime) -> None:
    """Store this snapshot in place of whatever was stored. Grid's answer wins even when its version went
    back (a registry rebuilt from scratch): a copy newer than grid's registry is a copy of nothing."""
    await session.execute(delete(GridRegistrySnapshot))
    session.add(GridRegistrySnapshot(version=version, grid_count=len(grids), grids=grids, fetched_at=fetched_at))
