"""Hotline's service layer: an operator's appeal becomes a reported incident; order events update it."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from services.hotline.adapters.orm import Appeal, metadata
from services.hotline.domain.privacy import caller_for_handlers
from shared.counters import next_number
from shared.events.catalog import INCIDENT_REPORTED
from shared.events.envelope import CloudEvent, utcnow
from shared.events.v1 import (
    AppealType,
    Channel,
    Coordinates,
    IncidentReported,
    Location,
    OrderChanged,
    Urgency,
)
from shared.uow import UnitOfWork

CONSUMER_ORDERS = "hotline-orders"


async def create_appeal(*, uow: UnitOfWork, operator: str | None, phone: str | None, name: str | None,
                        appeal_type: AppealType, category_code: str, description: str, address: str | None,
                        coordinates: Coordinates | None, urgency: Urgency | None, confidential: bool,
                        anonymous: bool) -> Appeal:
    """Record an appeal and, in the same transaction, the incident event that sends it to intake."""
    now = utcnow()
    async with uow:
        appeal = Appeal(
            id=str(uuid.uuid4()), incident_id=str(uuid.uuid4()),
            number=await next_number(uow.session, metadata.tables["counter"], prefix="12345",
                                     day=now.strftime("%Y%m%d"), separator="-"),
            caller_phone=phone, caller_name=name, appeal_type=appeal_type.value, category_code=category_code,
            description=description, address=address, lon=coordinates.lon if coordinates else None,
            lat=coordinates.lat if coordinates else None, urgency=urgency.value if urgency else None,
            confidential=confidential, anonymous=anonymous, disposition="dispatched", status="accepted",
            operator=operator, created_at=now, updated_at=now,
        )
        uow.session.add(appeal)
        caller = caller_for_handlers(appeal)
        report = IncidentReported(
            incident_id=appeal.incident_id, channel=Channel.HOTLINE, source_ref=appeal.number,
            appeal_type=appeal_type, category_code=category_code, description=description, urgency=urgency,
            location=Location(coordinates=coordinates, address=address), caller=caller,
            confidential=confidential, reported_at=now,
        )
        await uow.emit(INCIDENT_REPORTED, report, subject=appeal.incident_id)
        await uow.commit()
        return appeal


async def get_appeal(uow: UnitOfWork, *, appeal_id: str) -> Appeal | None:
    """An appeal by id or 受理编号."""
    async with uow:
        result = await uow.session.execute(
            select(Appeal).where((Appeal.id == appeal_id) | (Appeal.number == appeal_id)))
        return result.scalar_one_or_none()


async def handle_order_changed(event: CloudEvent[Any], *, uow: UnitOfWork) -> None:
    """Keep the appeal's view of its order current (the operator's screen, the follow-up call)."""
    change: OrderChanged = event.data
    async with uow:
        if not await uow.first_delivery(consumer=CONSUMER_ORDERS, event_id=event.id):
            return
        appeal = (await uow.session.execute(
            select(Appeal).where(Appeal.incident_id == change.incident_id))).scalar_one_or_none()
        if appeal is None:
            await uow.commit()  # an order from another channel: nothing of ours to update
            return
        appeal.order_id = change.order_id
        appeal.order_number = change.order_number
        appeal.status = change.to_state
        appeal.updated_at = utcnow()
        await uow.commit()
