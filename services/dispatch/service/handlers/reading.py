"""Reading orders within the reader's scope; every read is logged."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select

from services.dispatch.adapters import repository
from services.dispatch.adapters.board_queries import Search, find_orders, search_conditions
from services.dispatch.adapters.orm import (
    OrderAccess,
    OrderAudit,
    WorkOrder,
)
from services.dispatch.domain.lifecycle import (
    OPEN_STATES,
    Action,
    Actor,
    OrderNotVisible,
    OrderState,
    allowed_actions,
    can_act,
)
from services.dispatch.domain.org import OrgTree
from services.dispatch.domain.visibility import order_scope
from services.dispatch.service.handlers.common import (
    PolicyHolder,
    load_order,
)
from shared.db import scope_where
from shared.events.envelope import utcnow
from shared.uow import UnitOfWork


def scope_filter(actor: Actor, org: OrgTree) -> Any:
    """The SQL condition for the orders an actor may see (None: all of them): the same scope as can_act."""
    return scope_where(order_scope(actor.role, actor.unit_code, org), unit=WorkOrder.unit_code)


async def _log_access(uow: UnitOfWork, actor: Actor, rows: Sequence[WorkOrder], view: str) -> None:
    now = utcnow()
    uow.session.add_all([OrderAccess(order_id=r.id, order_number=r.number, subject=actor.subject,
                                     subject_name=actor.name, subject_kind=actor.kind, role=str(actor.role), unit_code=actor.unit_code, view=view, at=now)
                         for r in rows])


async def read_order(*, uow: UnitOfWork, holder: PolicyHolder, actor: Actor, order_ref: str,
                     view: str = "detail") -> tuple[WorkOrder, list[OrderAudit] | None, tuple[Action, ...]]:
    """An order (and for view=history its audit trail) for someone allowed to see it; the read is logged."""
    policy = holder.policy
    async with uow:
        row = await load_order(uow, order_ref)
        if row is None or not can_act(actor.role, actor.unit_code, row.unit_code, policy.org):
            raise OrderNotVisible(f"no work order {order_ref}")
        history = None
        if view == "history":
            history = list((await uow.session.execute(
                select(OrderAudit).where(OrderAudit.order_id == row.id).order_by(OrderAudit.id))).scalars())
        await _log_access(uow, actor, [row], view)
        await uow.commit()
    return row, history, allowed_actions(repository.to_domain(row), actor=actor, org=policy.org)


QUEUE_VIEWS: dict[str, Callable[[datetime], Any]] = {
    "open": lambda now: WorkOrder.state.in_([s.value for s in OPEN_STATES]),
    "awaiting_sign": lambda now: WorkOrder.state == OrderState.DISPATCHED.value,
    "in_progress": lambda now: WorkOrder.state.in_([OrderState.SIGNED.value, OrderState.IN_PROGRESS.value]),
    "queued": lambda now: WorkOrder.state == OrderState.QUEUED.value,
    "return_requested": lambda now: WorkOrder.state == OrderState.RETURN_REQUESTED.value,
    "overdue": lambda now: (WorkOrder.state.in_([s.value for s in OPEN_STATES])
                            & or_((WorkOrder.state == OrderState.DISPATCHED.value) & (WorkOrder.sign_deadline < now),
                                  WorkOrder.state.in_([OrderState.SIGNED.value, OrderState.IN_PROGRESS.value])
                                  & (WorkOrder.handle_deadline < now))),
    "closed": lambda now: WorkOrder.state == OrderState.CLOSED.value,
    "all": lambda now: None,
}


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


async def list_orders(*, uow: UnitOfWork, holder: PolicyHolder, actor: Actor, filters: QueueFilter,
                      logged_as: str = "list") -> tuple[list[WorkOrder], int]:
    """A page of the orders an actor may see, by view, filters and search, most urgent deadline first; and the
    total. The one query behind the API's list, the board's queue and the CSV export; each row read is logged."""
    now = utcnow()
    conditions = [c for c in (scope_filter(actor, holder.policy.org), QUEUE_VIEWS[filters.view](now)) if c is not None]
    for column, value in ((WorkOrder.unit_code, filters.unit_code), (WorkOrder.county_code, filters.county_code),
                          (WorkOrder.town_code, filters.town_code), (WorkOrder.urgency, filters.urgency),
                          (WorkOrder.supervised, filters.supervised), (WorkOrder.incident_id, filters.incident_id),
                          (WorkOrder.source_ref, filters.source_ref), (WorkOrder.state, filters.state)):
        if value is not None:
            conditions.append(column == value)
    if filters.category_code:
        conditions.append(WorkOrder.category_code.startswith(filters.category_code))
    conditions += search_conditions(filters.search)
    async with uow:
        rows, total = await find_orders(uow.session, conditions, limit=filters.limit, offset=filters.offset)
        await _log_access(uow, actor, rows, logged_as)
        await uow.commit()
    return rows, total


async def access_log(*, uow: UnitOfWork, order_ref: str | None = None, subject: str | None = None,
                     since: datetime | None = None, until: datetime | None = None,
                     limit: int = 100, offset: int = 0) -> list[OrderAccess]:
    """Who read which order when, newest first (for the city)."""
    query = select(OrderAccess).order_by(OrderAccess.at.desc(), OrderAccess.id.desc()).limit(limit).offset(offset)
    if order_ref:
        query = query.where((OrderAccess.order_id == order_ref) | (OrderAccess.order_number == order_ref))
    if subject:
        query = query.where(OrderAccess.subject == subject)
    if since:
        query = query.where(OrderAccess.at >= since)
    if until:
        query = query.where(OrderAccess.at < until)
    async with uow:
        return list((await uow.session.execute(query)).scalars())


async def prune_access_log(*, uow: UnitOfWork, older_than_days: int) -> int:
    """Delete order-read records past their retention; returns how many."""
    async with uow:
        result = await uow.session.execute(delete(OrderAccess).where(
            OrderAccess.at < utcnow() - timedelta(days=older_than_days)))
        await uow.commit()
    return result.rowcount or 0


