"""Dispatch's service layer: commands and events in, one transaction each, events out via the outbox."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from services.dispatch.adapters.orm import OrderAudit, WorkOrder, metadata
from shared.counters import next_number
from shared.events.catalog import ORDER_EVENTS
from shared.events.envelope import CloudEvent, utcnow
from shared.events.v1 import IncidentAccepted, OrderChanged
from shared.uow import UnitOfWork

CONSUMER_INCIDENTS = "dispatch-incidents"


def order_changed(order: WorkOrder, *, action: str, from_state: str | None, actor: str,
                  reason: str | None = None, details: dict[str, Any] | None = None) -> OrderChanged:
    """The event data for a transition the order has just taken."""
    return OrderChanged(
        order_id=order.id, order_number=order.number, incident_id=order.incident_id, action=action,
        from_state=from_state, to_state=order.state, version=order.version, unit_code=order.unit_code,
        tier=order.tier, county_code=order.county_code, town_code=order.town_code,
        category_code=order.category_code, appeal_type=order.appeal_type, channel=order.channel,
        source_ref=order.source_ref, actor=actor, reason=reason, sign_deadline=order.sign_deadline,
        handle_deadline=order.handle_deadline, occurred_at=order.updated_at, details=details or {},
    )


async def record_transition(uow: UnitOfWork, order: WorkOrder, *, event_name: str, action: str,
                            from_state: str | None, actor: str, reason: str | None = None,
                            details: dict[str, Any] | None = None) -> None:
    """One transition = one audit row + one event, in the caller's transaction."""
    data = order_changed(order, action=action, from_state=from_state, actor=actor, reason=reason,
                         details=details)
    event = await uow.emit(ORDER_EVENTS[event_name], data, subject=order.id)
    uow.session.add(OrderAudit(order_id=order.id, event_id=event.id, action=action, from_state=from_state,
                               to_state=order.state, version=order.version, actor=actor,
                               unit_code=order.unit_code, reason=reason, details=details or {}, at=event.time))


async def handle_incident_accepted(event: CloudEvent[IncidentAccepted], *, uow: UnitOfWork, city_code: str) -> None:
    """Turn a located incident into a work order assigned to the unit that owns its location."""
    incident = event.data
    async with uow:
        if not await uow.first_delivery(consumer=CONSUMER_INCIDENTS, event_id=event.id):
            return
        existing = await uow.session.execute(select(WorkOrder.id).where(WorkOrder.incident_id == incident.incident_id))
        if existing.scalar_one_or_none() is not None:
            return  # the same incident republished under another event id
        loc = incident.location
        if loc.town_code:
            unit, tier, state, event_name = loc.town_code, "town", "dispatched", "dispatched"
        elif loc.county_code:
            unit, tier, state, event_name = loc.county_code, "county", "queued", "queued"
        else:
            unit, tier, state, event_name = city_code, "city", "queued", "queued"
        now = utcnow()
        order = WorkOrder(
            id=str(uuid.uuid4()), number=await next_number(uow.session, metadata.tables["counter"], prefix="GD",
                                                  day=now.strftime("%Y%m%d")),
            incident_id=incident.incident_id, state=state, version=1, unit_code=unit, tier=tier,
            county_code=loc.county_code, town_code=loc.town_code, village_code=loc.village_code,
            grid_code=loc.grid_code, category_code=incident.category_code, appeal_type=incident.appeal_type.value,
            urgency=incident.urgency.value, channel=incident.channel.value, source_ref=incident.source_ref,
            title=incident.title, description=incident.description, address=loc.address,
            lon=loc.coordinates.lon if loc.coordinates else None, lat=loc.coordinates.lat if loc.coordinates else None,
            located_by=incident.located_by.value, confidential=incident.confidential,
            caller=incident.caller.model_dump() if incident.caller else None,
            reported_at=incident.reported_at, created_at=now, updated_at=now,
        )
        uow.session.add(order)
        await record_transition(uow, order, event_name=event_name, action="dispatch", from_state=None,
                                actor="system:router", reason=f"located by {incident.located_by.value}")
        await uow.commit()


async def get_order(uow: UnitOfWork, *, order_id: str) -> WorkOrder | None:
    """An order by id or by its number."""
    async with uow:
        result = await uow.session.execute(
            select(WorkOrder).where((WorkOrder.id == order_id) | (WorkOrder.number == order_id)))
        return result.scalar_one_or_none()


async def find_orders(uow: UnitOfWork, *, incident_id: str | None = None, source_ref: str | None = None,
                      limit: int = 50) -> list[WorkOrder]:
    """Orders by the incident or channel record they came from."""
    async with uow:
        query = select(WorkOrder).order_by(WorkOrder.created_at.desc()).limit(limit)
        if incident_id:
            query = query.where(WorkOrder.incident_id == incident_id)
        if source_ref:
            query = query.where(WorkOrder.source_ref == source_ref)
        return list((await uow.session.execute(query)).scalars())


async def order_history(uow: UnitOfWork, *, order_id: str) -> list[OrderAudit]:
    async with uow:
        result = await uow.session.execute(
            select(OrderAudit).where(OrderAudit.order_id == order_id).order_by(OrderAudit.id))
        return list(result.scalars())
