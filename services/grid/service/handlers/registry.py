"""The grid registry: the demo city's first load, GeoJSON import and export, the lookup index."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from services.grid.adapters.orm import Grid, GridMember
from services.grid.adapters.uow import GridUnitOfWork
from services.grid.domain import registry
from services.grid.domain.lookup import GridIndex, IndexedGrid
from shared.errors import Invalid


@dataclass
class IndexHolder:
    """The lookup index one process serves, and the registry version it was built from."""

    index: GridIndex
    version: int = 0


async def prepare_registry(*, uow: GridUnitOfWork, demo_city: bool) -> int:
    """Create the counters and, into an empty registry, bulk-load the demo city; returns grids loaded."""
    from shared import democity

    async with uow:
        await uow.registry.lock_for_first_load()  # a second process then finds the city loaded
        await uow.registry.prepare_counters()
        loaded = 0
        if demo_city and await uow.registry.is_empty():
            grid_rows, member_rows = [], []
            for g in democity.grids():
                grid_rows.append({"code": g.code, "name": g.name, "kind": g.kind, "dedicated_type": g.dedicated_type,
                                  "village_code": g.village_code, "town_code": g.town_code,
                                  "county_code": g.county_code,
                                  "polygon": {"type": "Polygon", "coordinates": [[list(p) for p in g.polygon]]}})
                member_rows += [{"grid_code": g.code, "name": m.name, "role": m.role, "phone": m.phone}
                                for m in g.members]
            areas = democity.outlines()
            town_rows = [{"code": u.code, "county_code": u.parent_code,
                          "polygon": {"type": "Polygon", "coordinates": [[list(p) for p in areas[u.code].exterior.coords]]}}
                         for u in democity.units() if u.kind == "town"]
            await uow.registry.add_all(towns=town_rows, grids=grid_rows, members=member_rows)
            await uow.registry.next_version()
            loaded = len(grid_rows)
        await uow.commit()
        return loaded


async def build_index(*, uow: GridUnitOfWork) -> IndexHolder:
    """The lookup index over every grid in the registry."""
    async with uow:
        version = await uow.registry.version()
        rows = await uow.registry.index_rows()
    return IndexHolder(GridIndex([IndexedGrid(*row) for row in rows]), version)


async def refresh_index(*, uow: GridUnitOfWork, holder: IndexHolder) -> None:
    """Rebuild the index this process serves, in place (requests holding the holder see the new one)."""
    fresh = await build_index(uow=uow)
    holder.index, holder.version = fresh.index, fresh.version  # no await between: never half-replaced


async def registry_version(*, uow: GridUnitOfWork) -> int:
    """The registry's version (changes with every import)."""
    async with uow:
        return await uow.registry.version()


async def import_grids(*, uow: GridUnitOfWork, document: Any, holder: IndexHolder | None = None) -> dict[str, Any]:
    """Validate a FeatureCollection and replace the grids of every town it covers; nothing written on error.

    This process's index (`holder`) follows at once; other processes follow the registry version.
    """
    parsed = registry.parse(document)
    if parsed.problems:
        raise Invalid.of(p.as_dict() for p in parsed.problems)
    if not parsed.grids:
        raise Invalid("features", "导入的要素集合中没有网格", type="empty")
    towns = sorted({g.town_code for g in parsed.grids})
    async with uow:
        areas = await uow.registry.town_areas()
        problems = registry.validate(parsed, areas)
        codes = [g.code for g in parsed.grids]
        clashes = await uow.registry.codes_held_elsewhere(codes, towns)
        problems += [registry.Problem(f"features[{parsed.feature_of[c]}].properties.code",
                                      f"code {c} already belongs to a grid of town {t}, which this import keeps",
                                      "duplicate_code", parsed.feature_of[c], c) for c, t in clashes]
        if problems:
            raise Invalid.of(p.as_dict() for p in problems)
        replaced = await uow.registry.remove_towns(towns, [t.code for t in parsed.towns])
        await uow.registry.add_all(
            towns=[{"code": t.code, "county_code": t.county_code, "polygon": t.polygon} for t in parsed.towns],
            grids=[{"code": g.code, "name": g.name, "kind": g.kind, "dedicated_type": g.dedicated_type,
                    "village_code": g.village_code, "town_code": g.town_code, "county_code": g.county_code,
                    "polygon": g.polygon} for g in parsed.grids],
            members=[{"grid_code": g.code, **asdict(m)} for g in parsed.grids for m in g.members])
        version = await uow.registry.next_version()
        await uow.commit()
    if holder is not None:
        await refresh_index(uow=uow, holder=holder)
    return {"imported": len(parsed.grids), "replaced": replaced, "towns": towns, "registry_version": version}


async def export_grids(*, uow: GridUnitOfWork, town_code: str | None = None,
                       county_code: str | None = None) -> dict[str, Any]:
    """The registry (or one town's or county's part) as a FeatureCollection, town areas included."""
    async with uow:
        grids, members, towns = await uow.registry.export_rows(town_code=town_code, county_code=county_code)
    features = [registry.town_feature(t.code, t.county_code, t.polygon) for t in towns]
    features += [registry.to_feature(g, members.get(g.code, ())) for g in grids]
    return {"type": "FeatureCollection", "features": features}


async def list_grids(*, uow: GridUnitOfWork, town_code: str | None, village_code: str | None, kind: str | None,
                     limit: int, offset: int) -> list[Grid]:
    """Grids filtered by town, village or kind, by code."""
    async with uow:
        return await uow.registry.grids(town_code=town_code, village_code=village_code, kind=kind,
                                        limit=limit, offset=offset)


async def get_grid(*, uow: GridUnitOfWork, code: str) -> tuple[Grid, list[GridMember]] | None:
    """One grid and its members."""
    async with uow:
        grid = await uow.registry.get(code)
        if grid is None:
            return None
        return grid, await uow.registry.members_of(code)
