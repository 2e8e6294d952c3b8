"""Routes of patrols: check in, track points, check out, coverage."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from services.grid.entrypoints.deps import IdemDep, KeyDep, answer
from services.grid.entrypoints.schemas import PatrolEnd, PatrolStart, TrackPoints
from services.grid.service import handlers
from shared.auth import CurrentPrincipal
from shared.deps import RuntimeDep, UowDep
from shared.errors import Invalid

router = APIRouter(prefix="/api/v1")


@router.post("/patrols", status_code=201, tags=["patrols"], summary="check in: a patrol of one grid starts")
async def start_patrol(body: PatrolStart, runtime: RuntimeDep, key: KeyDep, idem: IdemDep) -> Any:
    return answer(await handlers.start_patrol(new_uow=runtime.uow, key=key, idempotency_key=idem,
                                             worker_id=body.worker_id, grid_code=body.grid_code,
                                             started_at=body.started_at))


@router.post("/patrols/{patrol_id}/points", tags=["patrols"], summary="track points of a patrol under way")
async def add_points(patrol_id: str, body: TrackPoints, uow: UowDep, key: KeyDep) -> Any:
    return await handlers.add_patrol_points(uow=uow, key=key, patrol_id=patrol_id,
                                            points=[(p.lon, p.lat, p.at) for p in body.points])


@router.post("/patrols/{patrol_id}/end", tags=["patrols"], summary="check out: the patrol ends")
async def end_patrol(patrol_id: str, body: PatrolEnd, uow: UowDep, key: KeyDep) -> Any:
    return await handlers.end_patrol(uow=uow, key=key, patrol_id=patrol_id, ended_at=body.ended_at)


@router.get("/patrols/coverage", tags=["patrols"],
            summary="who patrolled which grid for how long in a period, against 2 hours a day")
async def coverage(uow: UowDep, principal: CurrentPrincipal, start: AwareDatetime = Query(alias="from"),
                   end: AwareDatetime = Query(alias="to"), town_code: str | None = None, county_code: str | None = None,
                   grid_code: str | None = None) -> Any:
    if end <= start:
        raise Invalid("to", "结束时间须晚于开始时间", where="query")
    return await handlers.patrol_coverage(uow=uow, scope=principal.area, start=start, end=end, town_code=town_code,
                                          county_code=county_code, grid_code=grid_code)
