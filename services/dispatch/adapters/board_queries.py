"""Reading orders in bulk (`uow.order_reads`): a queue or search within a scope, counts per area for the board,
the city view and the gauges, the longest-overdue orders and the escalation feed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.adapters.orm import OrderAudit, WorkOrder
from services.dispatch.domain.lifecycle import OPEN_STATES, OrderState
from shared.db import scope_where
from shared.scope import Scope

_OPEN = [s.value for s in OPEN_STATES]


@dataclass(frozen=True)
class Search:
    text: str | None = None  # in the description or the address
    number: str | None = None  # 工单编号 or the source's number (受理编号)
    since: datetime | None = None  # reported at or after
    until: datetime | None = None  # reported before


@dataclass(frozen=True)
class QueueFilter:
    """What a list, a board queue or an export asks for: a view (a group of states) or one state, the
    area and category, and a search (text in the description or address, number, reported-at range)."""

    view: str = "open"
    state: str | None = None
    unit_code: str | None = None
    county_code: str | None = None
    town_code: str | None = None
    category_code: str | None = None
    urgency: str | None = None
    supervised: bool | None = None
    incident_id: str | None = None
    source_ref: str | None = None
    search: Search = field(default_factory=Search)
    limit: int = 50
    offset: int = 0


def overdue_condition(now: datetime) -> Any:
    """Open orders past the deadline of the clock that runs in their state."""
    return and_(WorkOrder.state.in_(_OPEN), or_(
        (WorkOrder.state == OrderState.DISPATCHED.value) & (WorkOrder.sign_deadline < now),
        WorkOrder.state.in_([OrderState.SIGNED.value, OrderState.IN_PROGRESS.value])
        & (WorkOrder.handle_deadline < now)))


QUEUE_VIEWS: dict[str, Callable[[datetime], Any]] = {
    "open": lambda now: WorkOrder.state.in_(_OPEN),
    "awaiting_sign": lambda now: WorkOrder.state == OrderState.DISPATCHED.value,
    "in_progress": lambda now: WorkOrder.state.in_([OrderState.SIGNED.value, OrderState.IN_PROGRESS.value]),
    "queued": lambda now: WorkOrder.state == OrderState.QUEUED.value,
    "return_requested": lambda now: WorkOrder.state == OrderState.RETURN_REQUESTED.value,
    "overdue": overdue_condition,
    "closed": lambda now: WorkOrder.state == OrderState.CLOSED.value,
    "all": lambda now: None,
}


def search_conditions(search: Search) -> list[Any]:
    """SQL conditions for a search; each word of the text must appear in the description or the address."""
    out: list[Any] = []
    for word in (search.text or "").split():
        out.append(or_(WorkOrder.description.contains(word, autoescape=True),
                       WorkOrder.address.contains(word, autoescape=True)))
    if search.number:
        out.append(or_(WorkOrder.number == search.number, WorkOrder.source_ref == search.number))
    if search.since is not None:
        out.append(WorkOrder.reported_at >= search.since)
    if search.until is not None:
        out.append(WorkOrder.reported_at < search.until)
    return out


def filter_conditions(filters: QueueFilter, *, scope: Scope, now: datetime) -> list[Any]:
    """The SQL conditions of a queue filter within a reader's scope (the same scope as `can_act`)."""
    conditions = [c for c in (scope_where(scope, unit=WorkOrder.unit_code), QUEUE_VIEWS[filters.view](now))
                  if c is not None]
    for column, value in ((WorkOrder.unit_code, filters.unit_code), (WorkOrder.county_code, filters.county_code),
                          (WorkOrder.town_code, filters.town_code), (WorkOrder.urgency, filters.urgency),
                          (WorkOrder.supervised, filters.supervised), (WorkOrder.incident_id, filters.incident_id),
                          (WorkOrder.source_ref, filters.source_ref), (WorkOrder.state, filters.state)):
        if value is not None:
            conditions.append(column == value)
    if filters.category_code:
        conditions.append(WorkOrder.category_code.startswith(filters.category_code))
    return conditions + search_conditions(filters.search)


class OrderReads:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def find(self, filters: QueueFilter, *, scope: Scope, now: datetime) -> tuple[list[WorkOrder], int]:
        """A page of the orders a filter finds within a scope, the nearest deadline first; and how many in all."""
        conditions = filter_conditions(filters, scope=scope, now=now)
        due = func.coalesce(WorkOrder.sign_deadline, WorkOrder.handle_deadline)
        total = (await self.session.execute(select(func.count()).select_from(WorkOrder).where(*conditions))
                 ).scalar_one()
        rows = list((await self.session.execute(select(WorkOrder).where(*conditions)
                                                .order_by(due.is_(None), due, WorkOrder.created_at, WorkOrder.id)
                                                .limit(filters.limit).offset(filters.offset))).scalars())
        return rows, total

    async def backlog_by_area(self, *, now: datetime) -> dict[str, dict[str, dict[str, int]]]:
        """{"town": {code: {open, overdue}}, "county": {...}} over every open order: the (county, town) counts
        of one query, added up per town and per county (the groups part the orders, so the sums are exact)."""
        out: dict[str, dict[str, dict[str, int]]] = {"town": {}, "county": {}}
        for county, town, n, late in await self.open_by_town(now=now):
            for level, code in (("town", town), ("county", county)):
                if code:
                    area = out[level].setdefault(code, {"open": 0, "overdue": 0})
                    area["open"] += int(n)
                    area["overdue"] += int(late or 0)
        return out

    async def open_by_town(self, *, now: datetime) -> list[tuple[str | None, str | None, int, int | None]]:
        """(county, town, open, overdue) over every open order, for the gauges."""
        return [tuple(r) for r in (await self.session.execute(  # type: ignore[misc]
            select(WorkOrder.county_code, WorkOrder.town_code, func.count(),
                   func.sum(case((overdue_condition(now), 1), else_=0)))
            .where(WorkOrder.state.in_(_OPEN)).group_by(WorkOrder.county_code, WorkOrder.town_code))).all()]

    async def overdue_orders(self, *, now: datetime, limit: int) -> list[WorkOrder]:
        """The longest-overdue open orders, for 督办."""
        due = func.coalesce(WorkOrder.sign_deadline, WorkOrder.handle_deadline)
        return list((await self.session.execute(select(WorkOrder).where(overdue_condition(now))
                                                .order_by(due).limit(limit))).scalars())

    async def escalations(self, *, limit: int) -> list[tuple[OrderAudit, str]]:
        """The latest escalations, supervisions and red warnings, with the order number, newest first."""
        rows = (await self.session.execute(
            select(OrderAudit, WorkOrder.number).join(WorkOrder, WorkOrder.id == OrderAudit.order_id)
            .where(OrderAudit.action.in_(["escalate", "supervise", "warn", "urge"]))
            .order_by(OrderAudit.id.desc()).limit(limit))).all()
        return [(audit, number) for audit, number in rows]
