"""Handling rates from the orders table, and the early warnings raised."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select

from services.dispatch.adapters.orm import (
    DispositionDay,
    EarlyWarning,
    WorkOrder,
)
from services.dispatch.domain.handling_rates import OrderFacts, UnitRates, compute, period_bounds
from services.dispatch.domain.org import UnitKind
from services.dispatch.domain.sla import CHINA_TZ
from services.dispatch.service.handlers.common import (
    PolicyHolder,
)
from shared.db import scope_where
from shared.events.envelope import utcnow
from shared.scope import EVERYTHING, Scope
from shared.uow import UnitOfWork

TIER_KINDS = {"town": (UnitKind.TOWN,), "county": (UnitKind.COUNTY,), "department": (UnitKind.DEPARTMENT,),
              "city": (UnitKind.CITY,)}


async def handling_rates(*, uow: UnitOfWork, holder: PolicyHolder, tier: str, label: str,
                         units: Sequence[str] | None = None, as_of: datetime | None = None) -> list[UnitRates]:
    """The rates of every unit of a tier (or the given units) over a period label (2026-11, 2026-W48,
    2026-11-23) as they stood at `as_of` (now), computed from the orders table: the record of truth."""
    org = holder.policy.org
    as_of = as_of or utcnow()
    if as_of.tzinfo is None:  # a bare date-time from a query string is the city's clock
        as_of = as_of.replace(tzinfo=CHINA_TZ)
    start, end = period_bounds(label)
    codes = list(units) if units else sorted(u.code for u in org if u.kind in TIER_KINDS[tier])
    async with uow:
        rows = (await uow.session.execute(select(
            WorkOrder.first_unit_code, WorkOrder.dispatched_at, WorkOrder.signed_on_time, WorkOrder.closed_on_time,
            WorkOrder.return_count, WorkOrder.reopen_count, WorkOrder.escalation_count, WorkOrder.satisfaction,
            WorkOrder.resolved, WorkOrder.first_sign_deadline).where(WorkOrder.dispatched_at >= start, WorkOrder.dispatched_at < end,
                                      WorkOrder.first_unit_code.is_not(None)))).all()
        days = (start.astimezone(CHINA_TZ).date().isoformat(), end.astimezone(CHINA_TZ).date().isoformat())
        dispositions = (await uow.session.execute(select(
            DispositionDay.county_code, DispositionDay.disposition, func.sum(DispositionDay.count))
            .where(DispositionDay.day >= days[0], DispositionDay.day < days[1])
            .group_by(DispositionDay.county_code, DispositionDay.disposition))).all()
    facts = [OrderFacts(first_unit=r[0], dispatched_at=r[1], signed_on_time=r[2], closed=r[3] is not None,
                        closed_on_time=r[3], returned=r[4] > 0, reopened=r[5] > 0, escalated=r[6] > 0,
                        satisfaction=r[7], resolved=r[8], sign_deadline=r[9]) for r in rows]
    out = []
    for code in codes:
        unit = org.get(code)
        if unit is None:
            continue
        nested = unit.kind in (UnitKind.COUNTY, UnitKind.CITY)
        mine = [f for f in facts if (org.is_within(f.first_unit, code) if nested else f.first_unit == code)]
        direct = None
        if nested:
            picked = [(d, n) for county, d, n in dispositions if unit.kind is UnitKind.CITY or county == code]
            direct = (sum(n for d, n in picked if d == "answered"), sum(n for _, n in picked))
        out.append(compute(mine, unit=code, direct_answers=direct, as_of=as_of))
    return out


async def list_alerts(*, uow: UnitOfWork, since: datetime | None = None, area: str | None = None,
                      scope: Scope = EVERYTHING, limit: int = 100) -> list[EarlyWarning]:
    """Early warnings in the reader's scope (a town's, a county's, the city's), newest first."""
    query = select(EarlyWarning).order_by(EarlyWarning.raised_at.desc()).limit(limit)
    if since:
        query = query.where(EarlyWarning.raised_at >= since)
    if area:
        query = query.where(EarlyWarning.area_code == area)
    visible = scope_where(scope, county=EarlyWarning.county_code, town=EarlyWarning.area_code)
    if visible is not None:
        query = query.where(visible)
    async with uow:
        return list((await uow.session.execute(query)).scalars())


