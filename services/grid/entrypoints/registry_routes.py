"""Routes of the registry: location lookup, grids, GeoJSON import and export."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request

from services.grid.entrypoints.deps import Admin, IndexDep
from services.grid.entrypoints.schemas import GridDetail, GridPublic, LocatedPublic, MemberPublic
from services.grid.service import handlers
from shared.auth import CurrentPrincipal
from shared.deps import RuntimeDep, UowDep
from shared.errors import NotFound
from shared.phones import mask_phone
from shared.roles import Role
from shared.scope import area_scope

router = APIRouter(prefix="/api/v1")


@router.get("/lookup", response_model=LocatedPublic, tags=["registry"],
            summary="coordinates → grid → village → town → county")
async def lookup(index: IndexDep, lon: float = Query(ge=-180, le=180), lat: float = Query(ge=-90, le=90)) -> Any:
    found = index.locate(lon, lat)
    return LocatedPublic(grid_code=found.grid_code, village_code=found.village_code, town_code=found.town_code,
                         county_code=found.county_code, located_by=str(found.located_by), flagged=found.flagged,
                         distance_m=found.distance_m)


@router.get("/grids", response_model=list[GridPublic], tags=["registry"], summary="grids by town, village, kind")
async def list_grids(uow: UowDep, _: CurrentPrincipal, town_code: str | None = None,
                     village_code: str | None = None, kind: Literal["comprehensive", "dedicated"] | None = None,
                     limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0)) -> Any:
    return await handlers.list_grids(uow=uow, town_code=town_code, village_code=village_code, kind=kind,
                                     limit=limit, offset=offset)


@router.get("/grids/{code}", response_model=GridDetail, tags=["registry"],
            summary="one grid with its members (phones masked except for admins)")
async def read_grid(code: str, uow: UowDep, principal: CurrentPrincipal) -> Any:
    found = await handlers.get_grid(uow=uow, code=code)
    if found is None:
        raise NotFound(f"网格 {code} 不存在")
    grid, members = found
    # Full phones only for an admin whose area holds the grid (masked for everyone else).
    show = principal.role is Role.ADMIN and area_scope(principal.unit_code, principal.unit_kind).covers(
        town_code=grid.town_code, county_code=grid.county_code)
    return GridDetail(**grid.model_dump(), members=[
        MemberPublic(name=m.name, role=m.role, phone=m.phone if show else mask_phone(m.phone)) for m in members])


@router.get("/admin/grids/export", tags=["registry"], summary="the registry as a GeoJSON FeatureCollection")
async def export_grids(uow: UowDep, _: Admin, town_code: str | None = None, county_code: str | None = None) -> Any:
    return await handlers.export_grids(uow=uow, town_code=town_code, county_code=county_code)


@router.post("/admin/grids/import", tags=["registry"],
             summary="replace the grids of the towns a GeoJSON FeatureCollection covers (validated first)")
async def import_grids(request: Request, runtime: RuntimeDep, _: Admin,
                       document: Annotated[dict[str, Any], Body()]) -> Any:
    return await handlers.import_grids(uow=runtime.uow(), document=document, holder=request.app.state.grid_index)
