"""The grid registry: the demo city's first load, GeoJSON import and export, the lookup index."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import delete, select, text

from services.grid.adapters import repository as repo
from services.grid.adapters.orm import Grid, GridMember, TownArea
from services.grid.domain import registry
from services.grid.domain.lookup import GridIndex
from services.grid.service.handlers.common import CHANGE_COUNTER, REGISTRY_COUNTER
from shared.errors import Invalid
from shared.uow import UnitOfWork


@dataclass
class IndexHolder:
    """The lookup index one process serves, and the registry version it was built from."""

    index: GridIndex
    version: int = 0


@dataclass(frozen=True)
class _IndexedGrid:
    code: str
    kind: str
    village_code: str
    town_code: str
    county_code: str
    polygon: dict[str, Any]


async def prepare_registry(*, uow: UnitOfWork, demo_city: bool) -> int:
    """Create the counters and, into an empty registry, bulk-load the demo city; returns grids loaded."""
    from shared import democity

    async with uow:
        if uow.session.bind.dialect.name == "postgresql":
            # Two processes starting on one empty database: the second waits here, then finds the city loaded.
            await uow.session.execute(text("SELECT pg_advisory_xact_lock(hashtext('mcc-grid-registry'))"))
        await repo.ensure_counters(uow.session, (CHANGE_COUNTER, REGISTRY_COUNTER))
        loaded = 0
        empty = (await uow.session.execute(select(Grid.code).limit(1))).first() is None
        if demo_city and empty:
            grid_rows, member_rows = [], []
            for g in democity.grids():
                grid_rows.append({"code": g.code, "name": g.name, "kind": g.kind, "dedicated_type": g.dedicated_type,
                                  "village_code": g.village_code, "town_code": g.town_code,
                                  "county_code": g.county_code,
                                  "polygon": {"type": "Polygon", "coordinates": [[list(p) for p in g.polygon]]}})
                member_rows += [{"grid_code": g.code, "name": m.name, "role": m.role, "phone": m.phone}
                                for m in g.members]
            boxes = democity.boxes()
            town_rows = [{"code": u.code, "county_code": u.parent_code, "polygon": registry.rectangle(*boxes[u.code])}
                         for u in democity.units() if u.kind == "town"]
            await repo.bulk(uow.session, TownArea.__table__, town_rows)
            await repo.bulk(uow.session, Grid.__table__, grid_rows)
            await repo.bulk(uow.session, GridMember.__table__, member_rows)
            await repo.bump(uow.session, REGISTRY_COUNTER)
            loaded = len(grid_rows)
        await uow.commit()
        return loaded


async def build_index(*, uow: UnitOfWork) -> IndexHolder:
    """The lookup index over every grid in the registry."""
    async with uow:
        version = await repo.counter(uow.session, REGISTRY_COUNTER)
        rows = (await uow.session.execute(select(Grid.code, Grid.kind, Grid.village_code, Grid.town_code,
                                                 Grid.county_code, Grid.polygon).order_by(Grid.code))).all()
    return IndexHolder(GridIndex([_IndexedGrid(*row) for row in rows]), version)


async def registry_version(*, uow: UnitOfWork) -> int:
    """The registry's version (changes with every import)."""
    async with uow:
        return await repo.counter(uow.session, REGISTRY_COUNTER)


async def import_grids(*, uow: UnitOfWork, document: Any) -> dict[str, Any]:
    """Validate a FeatureCollection and replace the grids of every town it covers; nothing written on error."""
    parsed = registry.parse(document)
    if parsed.problems:
        raise Invalid.of(p.as_dict() for p in parsed.problems)
    if not parsed.grids:
        raise Invalid("features", "the collection holds no grids", type="empty")
    towns = sorted({g.town_code for g in parsed.grids})
    async with uow:
        areas = {row.code: row.polygon for row in (await uow.session.execute(select(TownArea))).scalars()}
        problems = registry.validate(parsed, areas)
        codes = [g.code for g in parsed.grids]
        clashes = (await uow.session.execute(select(Grid.code, Grid.town_code).where(
            Grid.code.in_(codes), Grid.town_code.not_in(towns)))).all()
        problems += [registry.Problem(f"features[{parsed.feature_of[c]}].properties.code",
                                      f"code {c} already belongs to a grid of town {t}, which this import keeps",
                                      "duplicate_code", parsed.feature_of[c], c) for c, t in clashes]
        if problems:
            raise Invalid.of(p.as_dict() for p in problems)
        old = select(Grid.code).where(Grid.town_code.in_(towns))
        await uow.session.execute(delete(GridMember).where(GridMember.grid_code.in_(old)))
        replaced = (await uow.session.execute(delete(Grid).where(Grid.town_code.in_(towns)))).rowcount
        for town in parsed.towns:
            await uow.session.execute(delete(TownArea).where(TownArea.code == town.code))
        await repo.bulk(uow.session, TownArea.__table__, [{"code": t.code, "county_code": t.county_code, "polygon": t.polygon}
                                              for t in parsed.towns])
        await repo.bulk(uow.session, Grid.__table__, [
            {"code": g.code, "name": g.name, "kind": g.kind, "dedicated_type": g.dedicated_type,
             "village_code": g.village_code, "town_code": g.town_code, "county_code": g.county_code,
             "polygon": g.polygon} for g in parsed.grids])
        await repo.bulk(uow.session, GridMember.__table__, [{"grid_code": g.code, **asdict(m)}
                                                for g in parsed.grids for m in g.members])
        version = await repo.bump(uow.session, REGISTRY_COUNTER)
        await uow.commit()
    return {"imported": len(parsed.grids), "replaced": replaced, "towns": towns, "registry_version": version}


async def export_grids(*, uow: UnitOfWork, town_code: str | None = None,
                       county_code: str | None = None) -> dict[str, Any]:
    """The registry (or one town's or county's part) as a FeatureCollection, town areas included."""
    async with uow:
        grids_q, towns_q = select(Grid).order_by(Grid.code), select(TownArea).order_by(TownArea.code)
        if town_code:
            grids_q, towns_q = grids_q.where(Grid.town_code == town_code), towns_q.where(TownArea.code == town_code)
        if county_code:
            grids_q = grids_q.where(Grid.county_code == county_code)
            towns_q = towns_q.where(TownArea.county_code == county_code)
        grids = (await uow.session.execute(grids_q)).scalars().all()
        members: dict[str, list[GridMember]] = {}
        member_q = select(GridMember).order_by(GridMember.id)
        if town_code or county_code:
            member_q = member_q.where(GridMember.grid_code.in_(grids_q.with_only_columns(Grid.code)))
        for m in (await uow.session.execute(member_q)).scalars():
            members.setdefault(m.grid_code, []).append(m)
        towns = (await uow.session.execute(towns_q)).scalars().all()
    features = [registry.town_feature(t.code, t.county_code, t.polygon) for t in towns]
    features += [registry.to_feature(g, members.get(g.code, ())) for g in grids]
    return {"type": "FeatureCollection", "features": features}


async def list_grids(*, uow: UnitOfWork, town_code: str | None, village_code: str | None, kind: str | None,
                     limit: int, offset: int) -> list[Grid]:
    """Grids filtered by town, village or kind, by code."""
    async with uow:
        q = select(Grid).order_by(Grid.code).limit(limit).offset(offset)
        for column, value in ((Grid.town_code, town_code), (Grid.village_code, village_code), (Grid.kind, kind)):
            if value:
                q = q.where(column == value)
        return list((await uow.session.execute(q)).scalars())


async def get_grid(*, uow: UnitOfWork, code: str) -> tuple[Grid, list[GridMember]] | None:
    """One grid and its members."""
    async with uow:
        grid = await uow.session.get(Grid, code)
        if grid is None:
            return None
        members = (await uow.session.execute(select(GridMember).where(GridMember.grid_code == code)
                                             .order_by(GridMember.id))).scalars().all()
        return grid, list(members)
