"""Queries behind the dispatcher board and the city view: search within a scope, counts per area, escalations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.adapters.orm import OrderAudit, WorkOrder
from services.dispatch.domain.lifecycle import OPEN_STATES, OrderState

_OPEN = [s.value for s in OPEN_STATES]


@dataclass(frozen=True)
class Search:
    text: str | None = None  # in the description or the address
    number: str | None = None  # 工单编号 or the source's number (受理编号)
    since: datetime | None = None  # reported at or after
    until: datetime | None = None  # reported before


def overdue_condition(now: datetime) -> Any:
    """Open orders past the deadline of the clock that runs in their state."""
    return and_(WorkOrder.state.in_(_OPEN), or_(
        (WorkOrder.state == OrderState.DISPATCHED.value) & (WorkOrder.sign_deadline < now),
        WorkOrder.state.in_([OrderState.SIGNED.value, OrderState.IN_PROGRESS.value])
        & (WorkOrder.handle_deadline < now)))


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


async def find_orders(session: AsyncSession, conditions: list[Any], *, limit: int,
                      offset: int = 0) -> tuple[list[WorkOrder], int]:
    """Orders matching every condition, the nearest deadline first; and how many match in all."""
    due = func.coalesce(WorkOrder.sign_deadline, WorkOrder.handle_deadline)
    total = (await session.execute(select(func.count()).select_from(WorkOrder).where(*conditions))).scalar_one()
    rows = list((await session.execute(select(WorkOrder).where(*conditions)
                                       .order_by(due.is_(None), due, WorkOrder.created_at, WorkOrder.id)
                                       .limit(limit).offset(offset))).scalars())
    return rows, total


async def backlog_by_area(session: AsyncSession, *, now: datetime) -> dict[str, dict[str, dict[str, int]]]:
    """{"town": {code: {open, overdue}}, "county": {...}} over every open order."""
    overdue = func.sum(func.cast(overdue_condition(now), Integer()))
    out: dict[str, dict[str, dict[str, int]]] = {"town": {}, "county": {}}
    for level, column in (("town", WorkOrder.town_code), ("county", WorkOrder.county_code)):
        rows = (await session.execute(select(column, func.count(), overdue).where(WorkOrder.state.in_(_OPEN))
                                      .group_by(column))).all()
        out[level] = {code: {"open": int(n), "overdue": int(late or 0)} for code, n, late in rows if code}
    return out


async def overdue_orders(session: AsyncSession, *, now: datetime, limit: int) -> list[WorkOrder]:
    """The longest-overdue open orders, for 督办."""
    due = func.coalesce(WorkOrder.sign_deadline, WorkOrder.handle_deadline)
    return list((await session.execute(select(WorkOrder).where(overdue_condition(now))
                                       .order_by(due).limit(limit))).scalars())


async def escalations(session: AsyncSession, *, limit: int) -> list[tuple[OrderAudit, str]]:
    """The latest escalations, supervisions and red warnings, with the order number, newest first."""
    rows = (await session.execute(
        select(OrderAudit, WorkOrder.number).join(WorkOrder, WorkOrder.id == OrderAudit.order_id)
        .where(OrderAudit.action.in_(["escalate", "supervise", "warn", "urge"]))
        .order_by(OrderAudit.id.desc()).limit(limit))).all()
    return [(audit, number) for audit, number in rows]
