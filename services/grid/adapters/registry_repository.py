"""The registry's SQL: grids, their members and the towns' areas, and the version other processes follow
(`uow.registry`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.grid.adapters.event_repository import CHANGE_COUNTER
from services.grid.adapters.orm import Grid, GridMember, TownArea
from services.grid.adapters.repository import bulk, bump, counter, ensure_counters

REGISTRY_COUNTER = "grid_registry_version"  # bumped by every import: other processes rebuild their index


class GridRegistryRepository:
    """The grid registry in one transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def prepare_counters(self) -> None:
        """The change sequence and the registry version exist (at 0 on a new database)."""
        await ensure_counters(self.session, (CHANGE_COUNTER, REGISTRY_COUNTER))

    async def version(self) -> int:
        return await counter(self.session, REGISTRY_COUNTER)

    async def next_version(self) -> int:
        """Move the registry version on (other processes then rebuild their index); answers the new one."""
        return await bump(self.session, REGISTRY_COUNTER)

    async def get(self, code: str) -> Grid | None:
        return await self.session.get(Grid, code)

    async def lock_for_first_load(self) -> None:
        """Two processes starting on one empty PostgreSQL database: the second waits here (SQLite serialises)."""
        if self.session.bind.dialect.name == "postgresql":
            await self.session.execute(text("SELECT pg_advisory_xact_lock(hashtext('mcc-grid-registry'))"))

    async def is_empty(self) -> bool:
        return (await self.session.execute(select(Grid.code).limit(1))).first() is None

    async def add_all(self, *, towns: Sequence[dict[str, Any]], grids: Sequence[dict[str, Any]],
                      members: Sequence[dict[str, Any]]) -> None:
        """Insert town areas, grids and members in chunked multi-row INSERTs."""
        await bulk(self.session, TownArea.__table__, towns)
        await bulk(self.session, Grid.__table__, grids)
        await bulk(self.session, GridMember.__table__, members)

    async def index_rows(self) -> list[tuple[Any, ...]]:
        """(code, kind, village, town, county, polygon) of every grid, by code: what the lookup index needs."""
        return [tuple(r) for r in (await self.session.execute(select(
            Grid.code, Grid.kind, Grid.village_code, Grid.town_code, Grid.county_code, Grid.polygon)
            .order_by(Grid.code))).all()]

    async def town_areas(self) -> dict[str, dict[str, Any]]:
        return {row.code: row.polygon for row in (await self.session.execute(select(TownArea))).scalars()}

    async def codes_held_elsewhere(self, codes: Sequence[str],
                                   towns: Sequence[str]) -> list[tuple[str, str]]:
        """(code, town) of grids with one of `codes` that belong to a town outside `towns`."""
        return [tuple(r) for r in (await self.session.execute(select(Grid.code, Grid.town_code).where(
            Grid.code.in_(codes), Grid.town_code.not_in(towns)))).all()]

    async def remove_towns(self, towns: Sequence[str], areas: Sequence[str]) -> int:
        """Delete the grids (and members) of `towns` and the areas `areas`; answers how many grids went."""
        old = select(Grid.code).where(Grid.town_code.in_(towns))
        await self.session.execute(delete(GridMember).where(GridMember.grid_code.in_(old)))
        replaced = (await self.session.execute(delete(Grid).where(Grid.town_code.in_(towns)))).rowcount
        if areas:
            await self.session.execute(delete(TownArea).where(TownArea.code.in_(areas)))
        return replaced or 0

    async def export_rows(self, *, town_code: str | None,
                          county_code: str | None) -> tuple[list[Grid], dict[str, list[GridMember]], list[TownArea]]:
        """Grids, their members by grid and town areas of the whole registry, or of one town or county."""
        grids_q, towns_q = select(Grid).order_by(Grid.code), select(TownArea).order_by(TownArea.code)
        if town_code:
            grids_q, towns_q = grids_q.where(Grid.town_code == town_code), towns_q.where(TownArea.code == town_code)
        if county_code:
            grids_q = grids_q.where(Grid.county_code == county_code)
            towns_q = towns_q.where(TownArea.county_code == county_code)
        grids = list((await self.session.execute(grids_q)).scalars().all())
        members: dict[str, list[GridMember]] = {}
        member_q = select(GridMember).order_by(GridMember.id)
        if town_code or county_code:
            member_q = member_q.where(GridMember.grid_code.in_(grids_q.with_only_columns(Grid.code)))
        for m in (await self.session.execute(member_q)).scalars():
            members.setdefault(m.grid_code, []).append(m)
        towns = list((await self.session.execute(towns_q)).scalars().all())
        return grids, members, towns

    async def grids(self, *, town_code: str | None, village_code: str | None, kind: str | None,
                    limit: int, offset: int) -> list[Grid]:
        q = select(Grid).order_by(Grid.code).limit(limit).offset(offset)
        for column, value in ((Grid.town_code, town_code), (Grid.village_code, village_code), (Grid.kind, kind)):
            if value:
                q = q.where(column == value)
        return list((await self.session.execute(q)).scalars())

    async def members_of(self, code: str) -> list[GridMember]:
        return list((await self.session.execute(select(GridMember).where(GridMember.grid_code == code)
                                                .order_by(GridMember.id))).scalars().all())

    async def knows_unit(self, unit: str) -> bool:
        """Whether some grid lies in this county or town."""
        return (await self.session.execute(select(Grid.code).where(
            or_(Grid.town_code == unit, Grid.county_code == unit)).limit(1))).first() is not None
