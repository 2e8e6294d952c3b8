"""The timer's use cases: fire what is due, reschedule after a policy change, refresh the gauges."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from services.dispatch.adapters import repository
from services.dispatch.adapters.unit_of_work import DispatchUnitOfWork
from services.dispatch.domain.lifecycle import (
    OPEN_STATES,
    Decision,
)
from services.dispatch.domain.timers import due_decisions, next_due
from services.dispatch.service.handlers.common import (
    PolicyHolder,
    count,
    record_transition,
)
from shared import metrics
from shared.events.envelope import utcnow

log = logging.getLogger("mcc.dispatch.timers")


async def fire_due_timers(*, uow: DispatchUnitOfWork, holder: PolicyHolder, now: datetime | None = None,
                          batch: int = 200) -> int:
    """Take every warning and escalation step due on up to `batch` overdue orders; the number of transitions.

    Rows are claimed with FOR UPDATE SKIP LOCKED (PostgreSQL), so several dispatch processes share the work
    without waiting on each other; SQLite serialises writers. What is due is computed from the order's own
    log, so a duplicate or stale firing does nothing. The whole batch is written in one transaction, with
    one UPDATE statement per set of changed columns (not one per transition): a killed process fires
    none of it, and the next poll fires all of it, exactly once.
    """
    policy = holder.policy
    now = now or utcnow()
    fired: list[tuple[Decision, SimpleNamespace]] = []
    writes: list[tuple[str, int, dict[str, Any]]] = []
    async with uow:
        for row in await uow.orders.claim_due(now=now, limit=batch):
            read_version = row.version
            order = repository.to_domain(row)
            decisions = due_decisions(order, now, policy.timer)
            if not decisions:  # nothing due after all (policy changed, clock paused): just reschedule
                writes.append((row.id, read_version, {"next_due_at": next_due(order, policy.timer)}))
                continue
            changed: dict[str, Any] = {}
            for decision in decisions:
                values = repository.row_values(row, decision, next_due_at=next_due(decision.order, policy.timer))
                changed.update(values)
                vars(row).update(values)
                await record_transition(uow, row, event_name=decision.event, action=decision.action.value,
                                        from_state=decision.from_state.value, actor=decision.actor.subject,
                                        reason=decision.reason, details=dict(decision.details))
                fired.append((decision, row))
            writes.append((row.id, read_version, changed))
        await uow.orders.save_many(writes)
        await uow.commit()
    for decision, row in fired:
        count(decision, row)
    return len(fired)


TIMER_POLICY_COUNTER = "timer-policy"  # the fingerprint of the SLA and escalation files open orders follow


async def reschedule_if_policy_changed(*, uow: DispatchUnitOfWork, holder: PolicyHolder, fingerprint: int) -> int | None:
    """After the SLA file or the escalation chain changed, every open order's next timer instant follows the
    new policy; the number of orders rescheduled, or None when the policy is the one they already follow."""
    async with uow:
        stored = await uow.counters.get(TIMER_POLICY_COUNTER)
    if stored == fingerprint:
        return None
    changed = await reschedule_all(uow=uow, holder=holder)
    async with uow:
        # Recorded after the reschedule: a crash in between only means the next start does it again.
        await uow.counters.set(TIMER_POLICY_COUNTER, fingerprint, known=stored)
        await uow.commit()
    log.info("open orders rescheduled after a policy change", extra={"orders": changed})
    return changed


async def reschedule_all(*, uow: DispatchUnitOfWork, holder: PolicyHolder, page: int = 2000) -> int:
    """Recompute next_due_at of every open order (after the escalation chain or SLA settings changed): one
    read of plain rows, then page by page the changed instants in one statement and one short transaction,
    so 100,000 open orders take seconds and hold no lock for long. It runs beside the timer loop and the
    consumers: it lets them run every hundred orders instead of holding the event loop for the whole set."""
    policy, changed = holder.policy, 0
    async with uow:
        rows = await uow.orders.open_timing(states=[s.value for s in OPEN_STATES])
    for start in range(0, len(rows), page):
        writes = []
        for n, row in enumerate(rows[start:start + page]):
            if n % 100 == 0:
                await asyncio.sleep(0)
            due = next_due(repository.to_domain(row), policy.timer)
            if due != row.next_due_at:
                writes.append((row.id, row.version, due))
        if writes:
            async with uow:
                await uow.orders.set_next_due(writes)
                await uow.commit()
        changed += len(writes)
    return changed


async def refresh_gauges(*, uow: DispatchUnitOfWork, now: datetime | None = None) -> None:
    """Open and overdue orders per county and town, for Prometheus."""
    now = now or utcnow()
    async with uow:
        rows = await uow.order_reads.open_by_town(now=now)
    metrics.ORDERS_OPEN.clear()
    metrics.ORDERS_OVERDUE.clear()
    for county, town, total, late in rows:
        metrics.ORDERS_OPEN.labels(county or "", town or "").set(total)
        metrics.ORDERS_OVERDUE.labels(county or "", town or "").set(late or 0)


