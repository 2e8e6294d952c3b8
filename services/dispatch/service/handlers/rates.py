"""Handling rates from the orders table, and the early warnings raised."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from services.dispatch.adapters.orm import EarlyWarning
from services.dispatch.adapters.unit_of_work import DispatchUnitOfWork
from services.dispatch.domain.handling_rates import OrderFacts, UnitRates, compute, period_bounds
from services.dispatch.domain.org import UnitKind
from services.dispatch.domain.sla import CHINA_TZ
from services.dispatch.service.handlers.common import (
    PolicyHolder,
)
from shared.events.envelope import utcnow
from shared.scope import EVERYTHING, Scope

TIER_KINDS = {"town": (UnitKind.TOWN,), "county": (UnitKind.COUNTY,), "department": (UnitKind.DEPARTMENT,),
              "city": (UnitKind.CITY,)}


async def handling_rates(*, uow: DispatchUnitOfWork, holder: PolicyHolder, tier: str, label: str,
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
        rows = await uow.orders.rate_facts(start=start, end=end)
        days = (start.astimezone(CHINA_TZ).date().isoformat(), end.astimezone(CHINA_TZ).date().isoformat())
        dispositions = await uow.dispositions.totals(first_day=days[0], end_day=days[1])
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


async def list_alerts(*, uow: DispatchUnitOfWork, since: datetime | None = None, area: str | None = None,
                      scope: Scope = EVERYTHING, limit: int = 100) -> list[EarlyWarning]:
    """Early warnings in the reader's scope (a town's, a county's, the city's), newest first."""
    async with uow:
        return await uow.surges.warnings(since=since, area=area, scope=scope, limit=limit)
