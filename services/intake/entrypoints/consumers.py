"""Intake's NATS consumers: reported incidents, and order events for the Open311 status projection. Both take
a fetched batch in one transaction (one by one only for a batch that failed)."""

from __future__ import annotations

from typing import Any

from services.intake.service import handlers
from shared.events.catalog import INCIDENT_REPORTED
from shared.events.envelope import CloudEvent
from shared.messaging import ConsumerSpec
from shared.runtime import Runtime

ORDER_STREAM, ORDER_SUBJECTS = "MCC_ORDERS", ("mcc.order.>",)
# A trickle of incidents (tens a second) otherwise comes one message a fetch, each its own transaction of five
# statements: waiting this long gathers a few into one, for a few tens of ms more on the way to dispatch.
GATHER_S = 0.03


def consumers(runtime: Runtime, *, locator: handlers.Locator, reference: handlers.Reference,
              places: handlers.AddressMatcher | None = None, batch: int = 200, loops: int = 2,
              gather_s: float = GATHER_S) -> list[ConsumerSpec]:
    async def on_reported(event: CloudEvent[Any]) -> None:
        await handlers.handle_incident_reported(event, uow=runtime.uow(), locator=locator, places=places,
                                                reference=reference)

    async def on_reported_batch(events: list[CloudEvent[Any]]) -> None:
        await handlers.handle_incidents_reported(events, uow=runtime.uow(), locator=locator, places=places,
                                                 reference=reference)

    async def on_order(event: CloudEvent[Any]) -> None:
        await handlers.handle_order_changed(event, uow=runtime.uow())

    async def on_order_batch(events: list[CloudEvent[Any]]) -> None:
        await handlers.handle_orders_changed(events, uow=runtime.uow())

    # Locating is in-process and cheap, so while one loop waits on its commit another normalises and locates.
    return [ConsumerSpec(stream=INCIDENT_REPORTED.stream, durable=handlers.CONSUMER_REPORTED,
                         subjects=(INCIDENT_REPORTED.subject,), handler=on_reported,
                         batch_handler=on_reported_batch, batch=batch, concurrency=loops, gather_s=gather_s),
            ConsumerSpec(stream=ORDER_STREAM, durable=handlers.CONSUMER_ORDERS, subjects=ORDER_SUBJECTS,
                         handler=on_order, batch_handler=on_order_batch, batch=batch, gather_s=gather_s)]
