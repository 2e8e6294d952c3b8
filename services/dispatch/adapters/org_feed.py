"""Reading the stored organisation tree for the services that follow it: its version (one row of the counter
table) and its units, read in one transaction so the units belong to the version answered (or a newer one,
which the follower sees at its next poll and fetches again)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.adapters.orm import OrgUnitRow, metadata


async def version(session: AsyncSession, *, counter_name: str) -> int:
    """The tree's version: bumped by every edit (0 before the first tree is stored)."""
    counter = metadata.tables["counter"]
    found = (await session.execute(select(counter.c.value).where(counter.c.name == counter_name))).scalar_one_or_none()
    return int(found or 0)


async def units(session: AsyncSession) -> list[dict[str, Any]]:
    """Every unit, parents before children is not promised: a follower indexes by code."""
    rows = (await session.execute(select(OrgUnitRow).order_by(OrgUnitRow.code))).scalars()
    return [{"code": r.code, "name": r.name, "kind": r.kind, "parent_code": r.parent_code, "function": r.function}
            for r in rows]
