"""What the dispatcher board and the city view read: a unit's queue with the actions each order allows now,
and the city's picture (backlog per area, overdue orders, warnings, league table, escalations).

Allowed actions come from the state machine (`allowed_actions`), never from a template. Every order read here
is written to the access log, as the JSON API's reads are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.dispatch.adapters.board_queries import Search
from services.dispatch.adapters.orm import WorkOrder
from services.dispatch.adapters.repository import StaleOrder, to_domain
from services.dispatch.adapters.unit_of_work import DispatchUnitOfWork
from services.dispatch.domain.handling_rates import league
from services.dispatch.domain.lifecycle import Action, Actor, allowed_actions
from services.dispatch.domain.org import UnitKind
from services.dispatch.domain.sla import CHINA_TZ
from services.dispatch.service import handlers
from shared.events.envelope import utcnow

__all__ = ["QueueRow", "Search", "StaleOrder", "board_filter", "city_picture", "queue"]


@dataclass(frozen=True)
class QueueRow:
    order: WorkOrder
    allowed: tuple[Action, ...]


async def queue(*, uow: DispatchUnitOfWork, holder: handlers.PolicyHolder, actor: Actor,
                filters: handlers.QueueFilter) -> tuple[list[QueueRow], int]:
    """The orders an actor may see, by view, filters and search, the nearest deadline first (logged): the
    JSON API's list query, with the actions each order allows now."""
    rows, total = await handlers.list_orders(uow=uow, holder=holder, actor=actor, filters=filters)
    org = holder.policy.org
    return [QueueRow(r, allowed_actions(to_domain(r), actor=actor, org=org)) for r in rows], total


async def city_picture(*, uow: DispatchUnitOfWork, holder: handlers.PolicyHolder, month: str) -> dict[str, Any]:
    """Backlog and overdue per county and town, the worst overdue orders, warnings, 红黑榜 and escalations."""
    now = utcnow()
    org = holder.policy.org
    async with uow:
        backlog = await uow.order_reads.backlog_by_area(now=now)
        overdue = await uow.order_reads.overdue_orders(now=now, limit=20)
        feed = await uow.order_reads.escalations(limit=20)
    alerts = await handlers.list_alerts(uow=uow, limit=20)
    rates = await handlers.handling_rates(uow=uow, holder=holder, tier="town", label=month)
    table = league(rates, size=5, min_orders=1)
    names = {u.code: u.name for u in org}
    warned: dict[str, int] = {}
    for alert in alerts:
        warned[alert.area_code] = warned.get(alert.area_code, 0) + 1
    towns = [{"code": u.code, "name": u.name, "county": org.county_of(u.code),
              **backlog["town"].get(u.code, {"open": 0, "overdue": 0}), "alerts": warned.get(u.code, 0)}
             for u in org if u.kind is UnitKind.TOWN]
    counties = [{"code": u.code, "name": u.name, **backlog["county"].get(u.code, {"open": 0, "overdue": 0})}
                for u in org if u.kind is UnitKind.COUNTY]
    return {
        "towns": towns, "counties": counties, "names": names, "overdue": overdue, "alerts": alerts,
        "red": [(names.get(r.unit, r.unit), s) for r, s in table.red],
        "black": [(names.get(r.unit, r.unit), s) for r, s in table.black],
        "feed": [(audit, number) for audit, number in feed], "month": month,
    }


def _day(text: str, *, end: bool = False) -> datetime | None:
    if not text:
        return None
    day = datetime.fromisoformat(text)
    day = day.replace(tzinfo=CHINA_TZ) if day.tzinfo is None else day  # the form's dates are the city's days
    return day + timedelta(days=1) if end else day


def board_filter(*, view: str, town: str, category: str, urgency: str, q: str, number: str, since: str,
                 until: str, limit: int = 100) -> handlers.QueueFilter:
    """The board's filter form (plain strings, blank for none) as the queue's query."""
    try:
        search = Search(text=q.strip() or None, number=number.strip() or None, since=_day(since),
                        until=_day(until, end=True))
    except ValueError:  # a half-typed date in the filter form narrows nothing rather than failing the queue
        search = Search(text=q.strip() or None, number=number.strip() or None)
    return handlers.QueueFilter(view=view, town_code=town or None, category_code=category or None,
                                urgency=urgency or None, search=search, limit=limit)
