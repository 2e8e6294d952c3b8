"""重复件: which existing orders a call may duplicate, read by index around the caller and the place."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.hotline.adapters import appeal_queries
from services.hotline.adapters.orm import Appeal
from services.hotline.domain.duplicates import (
    AppealSnapshot,
    DuplicatePolicy,
    bounding_box,
    cells_within,
    find_candidates,
)
from services.hotline.service.common import HotlineContext, InvalidInput
from shared.events.envelope import utcnow
from shared.events.v1 import Coordinates
from shared.uow import UnitOfWork

CANDIDATE_SCAN_LIMIT = 200  # recent appeals looked at per signal and duplicate check


async def candidates(uow: UnitOfWork, policy: DuplicatePolicy, *, phone: str | None, category_code: str,
                     point: Coordinates | None, now: datetime, exclude: str | None = None) -> list[dict[str, Any]]:
    """Orders the new appeal may duplicate, as the operator's screen lists them."""
    rows: dict[str, Appeal] = {}
    if phone:
        for r in await appeal_queries.recent_by_caller(uow.session, phone=phone, since=now - policy.caller_window,
                                                       limit=CANDIDATE_SCAN_LIMIT):
            rows[r.id] = r
    if point is not None:
        # Cells and a bounding box narrow the read in SQL; the domain measures the real distance.
        for r in await appeal_queries.recent_nearby(
                uow.session, category_code=category_code, cells=cells_within(point.lon, point.lat, policy.radius_m),
                box=bounding_box(point.lon, point.lat, policy.radius_m), since=now - policy.category_window,
                limit=CANDIDATE_SCAN_LIMIT):
            rows[r.id] = r
    if not rows:
        return []
    snapshots = [AppealSnapshot(order_ref=r.master_number or r.number, phone=r.caller_phone,
                                category_code=r.category_code,
                                point=Coordinates(lon=r.lon, lat=r.lat) if r.lon is not None else None,
                                at=r.created_at) for r in rows.values()]
    new = AppealSnapshot(order_ref=exclude, phone=phone, category_code=category_code, point=point, at=now)
    found = find_candidates(new, snapshots, policy)
    masters = await appeal_queries.by_numbers(uow.session, [c.order_ref for c in found])
    out = []
    for c in found:
        m = masters.get(c.order_ref)
        if m is None:
            continue
        out.append({"appeal_number": m.number, "order_number": m.order_number, "status": m.status,
                    "category_code": m.category_code, "description": m.description[:120],
                    "reasons": [r.value for r in c.reasons],
                    "distance_m": round(c.distance_m, 1) if c.distance_m is not None else None,
                    "at": c.at.isoformat(), "linked_count": m.linked_count})
    return out


async def find_duplicates(*, uow: UnitOfWork, ctx: HotlineContext, phone: str | None, category_code: str,
                          point: Coordinates | None) -> list[dict[str, Any]]:
    """Existing orders a call about to be recorded may duplicate (the operator's check before create)."""
    if ctx.categories.get(category_code) is None:
        raise InvalidInput("category_code", f"unknown category code {category_code!r} (诉求分类代码不存在)")
    async with uow:
        return await candidates(uow, ctx.duplicates, phone=phone, category_code=category_code, point=point,
                                now=utcnow())
