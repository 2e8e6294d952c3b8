"""The timer's use cases: fire what is due, reschedule after a policy change, refresh the gauges."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, func, select

from services.dispatch.adapters import repository
from services.dispatch.adapters.orm import (
    WorkOrder,
)
from services.dispatch.domain.lifecycle import (
    OPEN_STATES,
    Decision,
)
from services.dispatch.domain.timers import due_decisions, next_due
from services.dispatch.service.handlers.common import (
    PolicyHolder,
    apply_decision,
    count,
)
from services.dispatch.service.handlers.reading import QUEUE_VIEWS
from shared import metrics
from shared.events.envelope import utcnow
from shared.uow import UnitOfWork


async def fire_due_timers(*, uow: UnitOfWork, holder: PolicyHolder, now: datetime | None = None,
                          batch: int = 200) -> int:
    """Take every warning and escalation step due on up to `batch` overdue orders; the number of transitions.

    Rows are claimed with FOR UPDATE SKIP LOCKED (PostgreSQL), so several dispatch processes share the work
    without waiting on each other; SQLite serialises writers. Each write is conditional on the version read,
    and what is due is computed from the order's own log, so a duplicate or stale firing does nothing.
    """
    policy = holder.policy
    now = now or utcnow()
    fired: list[tuple[Decision, WorkOrder]] = []
    async with uow:
        query = (select(WorkOrder).where(WorkOrder.next_due_at <= now).order_by(WorkOrder.next_due_at)
                 .limit(batch).with_for_update(skip_locked=True))
        rows = list((await uow.session.execute(query)).scalars())
        for row in rows:
            order = repository.to_domain(row)
            decisions = due_decisions(order, now, policy.timer)
            if not decisions:  # nothing due after all (policy changed, clock paused): just reschedule
                await repository.save(uow.session, row, {"next_due_at": next_due(order, policy.timer),
                                                         "version": row.version})
                continue
            for decision in decisions:
                await apply_decision(uow, row, decision, policy)
                fired.append((decision, row))
        await uow.commit()
    for decision, row in fired:
        count(decision, row)
    return len(fired)


async def reschedule_all(*, uow: UnitOfWork, holder: PolicyHolder, batch: int = 1000) -> int:
    """Recompute next_due_at of every open order (after the escalation chain or SLA settings changed)."""
    policy, changed = holder.policy, 0
    async with uow:
        rows = (await uow.session.execute(select(WorkOrder).where(
            WorkOrder.state.in_([s.value for s in OPEN_STATES])))).scalars()
        for row in rows:
            due = next_due(repository.to_domain(row), policy.timer)
            if due != row.next_due_at:
                await repository.save(uow.session, row, {"next_due_at": due, "version": row.version})
                changed += 1
        await uow.commit()
    return changed


async def refresh_gauges(*, uow: UnitOfWork, now: datetime | None = None) -> None:
    """Open and overdue orders per county and town, for Prometheus."""
    now = now or utcnow()
    open_states = [s.value for s in OPEN_STATES]
    overdue = QUEUE_VIEWS["overdue"](now)
    async with uow:
        rows = (await uow.session.execute(
            select(WorkOrder.county_code, WorkOrder.town_code, func.count(), func.sum(case((overdue, 1), else_=0)))
            .where(WorkOrder.state.in_(open_states)).group_by(WorkOrder.county_code, WorkOrder.town_code))).all()
    metrics.ORDERS_OPEN.clear()
    metrics.ORDERS_OVERDUE.clear()
    for county, town, total, late in rows:
        metrics.ORDERS_OPEN.labels(county or "", town or "").set(total)
        metrics.ORDERS_OVERDUE.labels(county or "", town or "").set(late or 0)


