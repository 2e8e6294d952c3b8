"""Dispatch HTTP API: handling rates (三率), the league table (红黑榜) and early warnings (预警), within the caller's
area (a town its own, a county its towns, the city all)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response
from pydantic import AfterValidator, AwareDatetime, BaseModel, Field

from services.dispatch.domain.handling_rates import (
    DEFAULT_MIN_ORDERS,
    league,
    league_to_csv,
    real_period,
    score,
    to_csv,
)
from services.dispatch.entrypoints.api import HolderDep
from services.dispatch.service import handlers
from shared.auth import Principal, require_roles
from shared.deps import UowDep
from shared.http import ALSO_CSV
from shared.roles import Role
from shared.scope import area_scope

router = APIRouter(prefix="/api/v1")


RatesReader = Annotated[Principal, require_roles(Role.CITY, Role.COUNTY, Role.TOWN, Role.DEPARTMENT, Role.ADMIN)]
PERIOD = r"^\d{4}-(\d{2}|W\d{2}|\d{2}-\d{2})$"
# A label of the right form that names no real period (2026-13, 0000-00, 2026-W99) is a 422, not a 500.
Period = Annotated[str, AfterValidator(real_period)]


class RateOut(BaseModel):
    value: float | None = Field(description="numerator / denominator; null when the denominator is 0")
    numerator: int
    denominator: int


class UnitRatesOut(BaseModel):
    unit_code: str
    unit_name: str
    orders: int
    score: float | None
    rates: dict[str, RateOut]


def _rates_out(rows: list[Any], holder: handlers.PolicyHolder) -> list[UnitRatesOut]:
    org = holder.policy.org
    return [UnitRatesOut(unit_code=r.unit, unit_name=org.require(r.unit).name, orders=r.orders, score=score(r),
                         rates={n: RateOut(value=v.value, numerator=v.numerator, denominator=v.denominator)
                                for n, v in r.rates.items()}) for r in rows]


def _visible_units(principal: Principal, holder: handlers.PolicyHolder, tier: str) -> list[str] | None:
    """A county or town (or its admin) sees the rates of units within it; the city and its admins all (None)."""
    if principal.unit_kind == "city":
        return None
    org = holder.policy.org
    return sorted(u.code for u in org if u.kind in handlers.TIER_KINDS[tier]
                  and org.is_within(u.code, principal.unit_code))


@router.get("/rates", response_model=list[UnitRatesOut], tags=["rates"], responses=ALSO_CSV,
            summary="handling rates per unit and period (响应率, 解决率, 满意率 ...), with the counts behind them")
async def read_rates(uow: UowDep, holder: HolderDep, principal: RatesReader,
                     period: Annotated[Period, Query(pattern=PERIOD, description="2026-11, 2026-W48 or 2026-11-23")],
                     tier: Literal["town", "county", "department", "city"] = "town",
                     unit: str | None = Query(None, max_length=64),
                     as_of: AwareDatetime | None = Query(None, description="count as things stood then (default: now);"
                                                    " an order still inside its sign-for window is not missed"),
                     format: Literal["json", "csv"] = "json") -> Any:
    visible = _visible_units(principal, holder, tier)
    units = [unit] if unit else visible
    if unit and visible is not None and unit not in visible:
        raise HTTPException(404, detail=f"您的辖区内没有单位 {unit}")
    rows = await handlers.handling_rates(uow=uow, holder=holder, tier=tier, label=period, units=units, as_of=as_of)
    if format == "csv":
        names = {u.code: u.name for u in holder.policy.org}
        return Response(to_csv(rows, names=names, period=period), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="mcc-rates-{tier}-{period}.csv"'})
    return _rates_out(rows, holder)


class LeagueOut(BaseModel):
    period: str
    tier: str
    red: list[UnitRatesOut] = Field(description="红榜: the best, best first")
    black: list[UnitRatesOut] = Field(description="黑榜: the worst, worst first")
    excluded: list[str] = Field(description="units with too few orders to rank")


@router.get("/rates/league", response_model=LeagueOut, tags=["rates"], responses=ALSO_CSV,
            summary="the monthly league table (红黑榜): top and bottom units of a tier by composite score")
async def read_league(uow: UowDep, holder: HolderDep, _: RatesReader,
                      month: Annotated[Period, Query(pattern=r"^\d{4}-\d{2}$")],
                      tier: Literal["town", "county", "department"] = "town", size: int = Query(5, ge=1, le=50),
                      min_orders: int = Query(DEFAULT_MIN_ORDERS, ge=1,
                                              description="fewer orders in the month: not ranked (excluded)"),
                      as_of: AwareDatetime | None = Query(None, description="count as things stood then (default: now)"),
                      format: Literal["json", "csv"] = "json") -> Any:
    rows = await handlers.handling_rates(uow=uow, holder=holder, tier=tier, label=month, as_of=as_of)
    table = league(rows, size=size, min_orders=min_orders)
    if format == "csv":
        names = {u.code: u.name for u in holder.policy.org}
        return Response(league_to_csv(table, names=names, period=month), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="mcc-league-{tier}-{month}.csv"'})
    return LeagueOut(period=month, tier=tier, red=_rates_out([r for r, _ in table.red], holder),
                     black=_rates_out([r for r, _ in table.black], holder), excluded=[r.unit for r in table.excluded])


class AlertOut(BaseModel):
    id: str
    area_code: str
    county_code: str | None
    category_group: str
    window_start: datetime
    count: int
    baseline: float
    p_value: float
    reason: str
    raised_at: datetime


@router.get("/alerts", response_model=list[AlertOut], tags=["rates"], summary="current early warnings (预警)")
async def read_alerts(uow: UowDep, holder: HolderDep, principal: RatesReader, since: AwareDatetime | None = None,
                      area: str | None = Query(None, max_length=16), limit: int = Query(100, ge=1, le=1000)) -> Any:
    # The same area rule as everywhere (shared.scope): a town its own, a county its county's, the city all; an
    # admin the area of its unit; a department none (warnings are for the command centres).
    scope = area_scope(principal.unit_code, principal.unit_kind) if principal.role is Role.ADMIN else principal.area
    return await handlers.list_alerts(uow=uow, since=since, area=area, scope=scope, limit=limit)
