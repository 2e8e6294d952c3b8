"""Intake's NATS consumers: reported incidents, and order events for the Open311 status projection."""

from __future__ import annotations

from typing import Any

from services.intake.service import handlers
from shared.events.catalog import INCIDENT_REPORTED
from shared.events.envelope import CloudEvent
from shared.messaging import ConsumerSpec
from shared.runtime import Runtime

ORDER_STREAM, ORDER_SUBJECTS = "MCC_ORDERS", ("mcc.order.>",)


def consumers(runtime: Runtime, *, locator: handlers.Locator, reference: handlers.Reference,
              places: handlers.AddressMatcher | None = None) -> list[ConsumerSpec]:
    async def on_reported(event: CloudEvent[Any]) -> None:
        await handlers.handle_incident_reported(event, uow=runtime.uow(), locator=locator, places=places,
                                                reference=reference)

    async def on_order(event: CloudEvent[Any]) -> None:
        await handlers.handle_order_changed(event, uow=runtime.uow())

    return [ConsumerSpec(stream=INCIDENT_REPORTED.stream, durable=handlers.CONSUMER_REPORTED,
                         subjects=(INCIDENT_REPORTED.subject,), handler=on_reported),
            ConsumerSpec(stream=ORDER_STREAM, durable=handlers.CONSUMER_ORDERS, subjects=ORDER_SUBJECTS,
                         handler=on_order)]
