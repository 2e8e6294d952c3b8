"""What every dispatch use case shares: the policy holder, and writing a transition as one audit row and
one outbox event in the caller's transaction."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from services.dispatch.adapters import repository
from services.dispatch.adapters.orm import (
    WorkOrder,
    metadata,
)
from services.dispatch.adapters.unit_of_work import DispatchUnitOfWork
from services.dispatch.domain.lifecycle import (
    Action,
    Decision,
    OrderState,
)
from services.dispatch.domain.policy import DispatchPolicy
from services.dispatch.domain.surge import SurgeBars, SurgeSettings
from services.dispatch.domain.timers import next_due
from shared import metrics
from shared.events.catalog import ORDER_EVENTS
from shared.events.v1 import (
    OrderChanged,
)

log = logging.getLogger("mcc.dispatch")

CONSUMER_INCIDENTS = "dispatch-incidents"
CONSUMER_FOLLOWUPS = "dispatch-followups"
CONSUMER_DISPOSITIONS = "dispatch-dispositions"
TOPOLOGY_COUNTER = "topology-version"
AUDIT_TABLE = metadata.tables["order_audit"]
ORDER_TABLE = metadata.tables["work_order"]


class PolicyHolder:
    """The current DispatchPolicy of this process; replaced whole when the topology changes. Consumers wait
    for `ready` so no event is routed before the stored tree is loaded."""

    def __init__(self, policy: DispatchPolicy) -> None:
        self.policy = policy
        self.topology_version = 0
        self.ready = asyncio.Event()
        self.surge = SurgeSettings()
        self.surge_bars = SurgeBars()  # learnt under `surge`: what needs no history read (routing.py)




def order_changed(order: WorkOrder, *, action: str, from_state: str | None, actor: str,
                  reason: str | None = None, details: dict[str, Any] | None = None,
                  actor_name: str | None = None) -> OrderChanged:
    """The event data for a transition the order has just taken."""
    return OrderChanged(
        order_id=order.id, order_number=order.number, incident_id=order.incident_id, action=action,
        from_state=from_state, to_state=order.state, version=order.version, unit_code=order.unit_code,
        tier=order.tier, county_code=order.county_code, town_code=order.town_code,
        category_code=order.category_code, appeal_type=order.appeal_type, channel=order.channel,
        source_ref=order.source_ref, actor=actor, actor_name=actor_name, reason=reason,
        sign_deadline=order.sign_deadline, handle_deadline=order.handle_deadline, occurred_at=order.updated_at, details=details or {},
    )


async def record_transition(uow: DispatchUnitOfWork, order: WorkOrder, *, event_name: str, action: str,
                            from_state: str | None, actor: str, reason: str | None = None,
                            details: dict[str, Any] | None = None, actor_name: str | None = None,
                            actor_kind: str = "system") -> None:
    """One transition = one audit row + one event, in the caller's transaction."""
    details = _jsonable(details or {})
    data = order_changed(order, action=action, from_state=from_state, actor=actor, reason=reason,
                         details=details, actor_name=actor_name)
    event = await uow.emit(ORDER_EVENTS[event_name], data, subject=order.id)
    uow.stage(AUDIT_TABLE, {"order_id": order.id, "event_id": event.id, "action": action, "from_state": from_state,
                            "to_state": order.state, "version": order.version, "actor": actor,
                            "actor_name": actor_name, "actor_kind": actor_kind, "unit_code": order.unit_code,
                            "reason": reason, "details": details, "at": event.time})


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


async def apply_decision(uow: DispatchUnitOfWork, row: WorkOrder, decision: Decision, policy: DispatchPolicy) -> None:
    """Write a decision to its row (only against the version read) with its audit row and event."""
    values = repository.row_values(row, decision, next_due_at=next_due(decision.order, policy.timer))
    await uow.orders.save(row, values)
    await record_transition(uow, row, event_name=decision.event, action=decision.action.value,
                            from_state=decision.from_state.value, actor=decision.actor.subject,
                            reason=decision.reason, details=dict(decision.details), actor_name=decision.actor.name,
                            actor_kind=decision.actor.kind)


def count(decision: Decision, row: WorkOrder) -> None:
    """Prometheus counters for a committed transition."""
    action, tier = decision.action, row.tier or "unknown"
    if decision.to_state is OrderState.DISPATCHED and action in (Action.DISPATCH, Action.ROUTE, Action.REASSIGN,
                                                                 Action.ESCALATE, Action.REOPEN):
        metrics.ORDERS_DISPATCHED.labels(tier).inc()
    if action is Action.SIGN:
        metrics.ORDERS_SIGNED.labels(tier, "on_time" if decision.details.get("on_time") else "late").inc()
        if decision.before.assigned_at:
            metrics.ORDER_TIME_TO_SIGN.labels(tier).observe((decision.at - decision.before.assigned_at).total_seconds())
    elif action is Action.CLOSE:
        metrics.ORDERS_CLOSED.labels(tier, "on_time" if decision.details.get("on_time") else "late").inc()
        if row.dispatched_at:
            metrics.ORDER_TIME_TO_CLOSE.labels(tier).observe((decision.at - row.dispatched_at).total_seconds())
    elif action is Action.RETURN:
        metrics.ORDERS_RETURNED.labels(tier).inc()
    elif action is Action.REOPEN:
        metrics.ORDERS_REOPENED.labels(tier).inc()
    elif action is Action.MERGE:
        metrics.ORDERS_MERGED.inc()
    elif action is Action.ESCALATE:
        before = decision.before.tier.value if decision.before.tier else "unknown"
        metrics.ORDERS_ESCALATED.labels(before, tier).inc()
