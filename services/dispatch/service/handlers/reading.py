"""Reading orders within the reader's scope; every read is logged."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from services.dispatch.adapters import repository
from services.dispatch.adapters.board_queries import QueueFilter, Search
from services.dispatch.adapters.orm import (
    OrderAccess,
    OrderAudit,
    WorkOrder,
)
from services.dispatch.adapters.unit_of_work import DispatchUnitOfWork
from services.dispatch.domain.lifecycle import (
    Action,
    Actor,
    OrderNotVisible,
    allowed_actions,
    can_act,
)
from services.dispatch.domain.visibility import order_scope
from services.dispatch.service.handlers.common import (
    PolicyHolder,
)
from shared.events.envelope import utcnow

__all__ = ["QueueFilter", "Search", "access_log", "list_orders", "prune_access_log", "read_order"]


def _log_access(uow: DispatchUnitOfWork, actor: Actor, rows: Sequence[WorkOrder], view: str) -> None:
    uow.access_log.record(rows, reader=actor, view=view, at=utcnow())


async def read_order(*, uow: DispatchUnitOfWork, holder: PolicyHolder, actor: Actor, order_ref: str,
                     view: str = "detail") -> tuple[WorkOrder, list[OrderAudit] | None, tuple[Action, ...]]:
    """An order (and for view=history its audit trail) for someone allowed to see it; the read is logged."""
    policy = holder.policy
    async with uow:
        row = await uow.orders.get(order_ref)
        if row is None or not can_act(actor.role, actor.unit_code, row.unit_code, policy.org):
            raise OrderNotVisible(f"未找到工单 {order_ref}")
        history = None
        if view == "history":
            history = await uow.orders.history(row.id)
        _log_access(uow, actor, [row], view)
        await uow.commit()
    return row, history, allowed_actions(repository.to_domain(row), actor=actor, org=policy.org)


async def list_orders(*, uow: DispatchUnitOfWork, holder: PolicyHolder, actor: Actor, filters: QueueFilter,
                      logged_as: str = "list") -> tuple[list[WorkOrder], int]:
    """A page of the orders an actor may see, by view, filters and search, most urgent deadline first; and the
    total. The one query behind the API's list, the board's queue and the CSV export; each row read is logged."""
    async with uow:
        rows, total = await uow.order_reads.find(
            filters, scope=order_scope(actor.role, actor.unit_code, holder.policy.org), now=utcnow())
        _log_access(uow, actor, rows, logged_as)
        await uow.commit()
    return rows, total


async def access_log(*, uow: DispatchUnitOfWork, order_ref: str | None = None, subject: str | None = None,
                     since: datetime | None = None, until: datetime | None = None,
                     limit: int = 100, offset: int = 0) -> list[OrderAccess]:
    """Who read which order when, newest first (for the city)."""
    async with uow:
        return await uow.access_log.find(order_ref=order_ref, subject=subject, since=since, until=until, limit=limit,
                                         offset=offset)


async def prune_access_log(*, uow: DispatchUnitOfWork, older_than_days: int) -> int:
    """Delete order-read records past their retention; returns how many."""
    async with uow:
        pruned = await uow.access_log.prune(before=utcnow() - timedelta(days=older_than_days))
        await uow.commit()
    return pruned


