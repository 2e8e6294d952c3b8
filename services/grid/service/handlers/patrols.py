"""Patrols (巡查): check in, track points, check out, coverage against the daily target."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from services.grid.adapters.orm import Patrol
from services.grid.adapters.uow import GridUnitOfWork
from services.grid.domain.patrols import PatrolSpan, coverage
from services.grid.domain.scope import within
from services.grid.service.handlers.common import IDEMPOTENCY, require_area
from shared import apikeys
from shared.errors import Conflict, Forbidden, Invalid, NotFound
from shared.events.envelope import utcnow
from shared.idempotency import Stored, fingerprint, run_once
from shared.scope import Scope


async def start_patrol(*, new_uow: Callable[[], GridUnitOfWork], key: apikeys.ApiKey, idempotency_key: str,
                       worker_id: str, grid_code: str, started_at: datetime | None) -> Stored:
    """A grid worker checks in at the start of a patrol of one grid."""
    async with new_uow() as uow:
        grid = await uow.patrols.grid(grid_code)
    if grid is None:
        raise Invalid("grid_code", f"网格 {grid_code} 不存在", type="unknown_grid")
    if not within(key.scope_unit, town_code=grid.town_code, county_code=grid.county_code):
        raise Forbidden(f"网格 {grid_code} 不在此密钥的范围 {key.scope_unit} 内")
    begin = started_at or utcnow()

    async def create(uow: GridUnitOfWork) -> tuple[int, Any]:
        patrol = Patrol(id=str(uuid.uuid4()), key_id=key.id, worker_id=worker_id, grid_code=grid_code,
                        town_code=grid.town_code, county_code=grid.county_code, started_at=begin)
        uow.patrols.add(patrol)
        return 201, _patrol_view(patrol)

    return await run_once(new_uow, IDEMPOTENCY, scope=f"grid:{key.id}:patrols", key=idempotency_key,
                          fingerprint=fingerprint({"worker": worker_id, "grid": grid_code,
                                                   "started_at": started_at}), create=create)


def _patrol_view(p: Patrol) -> dict[str, Any]:
    return {"id": p.id, "worker_id": p.worker_id, "grid_code": p.grid_code, "town_code": p.town_code,
            "started_at": p.started_at.isoformat(), "ended_at": p.ended_at.isoformat() if p.ended_at else None,
            "points": p.points}


async def _own_patrol(uow: GridUnitOfWork, key: apikeys.ApiKey, patrol_id: str) -> Patrol:
    patrol = await uow.patrols.get(patrol_id)
    if patrol is None or patrol.key_id != key.id:
        raise NotFound(f"巡查 {patrol_id} 不存在")
    return patrol


async def add_patrol_points(*, uow: GridUnitOfWork, key: apikeys.ApiKey, patrol_id: str,
                            points: Sequence[tuple[float, float, datetime]]) -> dict[str, Any]:
    """Track points of a patrol under way (an app may send them in several calls)."""
    async with uow:
        patrol = await _own_patrol(uow, key, patrol_id)
        if patrol.ended_at is not None:
            raise Conflict(f"巡查 {patrol_id} 已结束")
        await uow.patrols.add_points([{"patrol_id": patrol_id, "lon": lon, "lat": lat, "at": at}
                                      for lon, lat, at in points])
        patrol.points += len(points)
        view = _patrol_view(patrol)
        await uow.commit()
        return view


async def end_patrol(*, uow: GridUnitOfWork, key: apikeys.ApiKey, patrol_id: str,
                     ended_at: datetime | None) -> dict[str, Any]:
    """The check-out at the end of a patrol (a retry answers the same)."""
    async with uow:
        patrol = await _own_patrol(uow, key, patrol_id)
        if patrol.ended_at is None:
            end = ended_at or utcnow()
            if end <= patrol.started_at:
                raise Invalid("ended_at", "巡查的结束时间须晚于开始时间")
            patrol.ended_at = end
            await uow.commit()
        return _patrol_view(patrol)


async def patrol_coverage(*, uow: GridUnitOfWork, scope: Scope, start: datetime, end: datetime, town_code: str | None,
                          county_code: str | None, grid_code: str | None) -> list[dict[str, Any]]:
    """Who patrolled which grid of the caller's scope for how long in [start, end), against the 2-hours-a-day
    target; then the grids of the area nobody patrolled (`worker_id` null, 0 seconds). 403 for a town or county
    outside the scope."""
    async with uow:
        await require_area(uow, scope, town_code=town_code, county_code=county_code)
        rows = await uow.patrols.overlapping(scope=scope, start=start, end=end, town_code=town_code,
                                             county_code=county_code, grid_code=grid_code)
        area = await uow.patrols.grid_codes(scope=scope, town_code=town_code, county_code=county_code,
                                            grid_code=grid_code)
    spans = [PatrolSpan(p.worker_id, p.grid_code, p.started_at, p.ended_at) for p in rows]
    return [{"worker_id": c.worker_id, "grid_code": c.grid_code, "patrols": c.patrols, "seconds": c.seconds,
             "hours": round(c.seconds / 3600, 2), "days": c.days, "target_hours": c.target_seconds / 3600,
             "met": c.met} for c in coverage(spans, start=start, end=end, now=utcnow(), grids=area)]
