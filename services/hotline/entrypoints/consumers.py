"""Hotline's NATS consumers."""

from __future__ import annotations

from typing import Any

from services.hotline.service import handlers
from shared.events.catalog import ORDER_EVENTS
from shared.events.envelope import CloudEvent
from shared.messaging import ConsumerSpec
from shared.runtime import Runtime


def consumers(runtime: Runtime) -> list[ConsumerSpec]:
    async def on_order(event: CloudEvent[Any]) -> None:
        await handlers.handle_order_changed(event, uow=runtime.uow())

    async def on_orders(events: list[CloudEvent[Any]]) -> None:
        await handlers.handle_orders_changed(events, uow=runtime.uow())

    spec = next(iter(ORDER_EVENTS.values()))
    # A fetched batch is one transaction; should it fail, the bus applies its events one by one.
    return [ConsumerSpec(stream=spec.stream, durable=handlers.CONSUMER_ORDERS, subjects=("mcc.order.>",),
                         handler=on_order, batch_handler=on_orders, batch=200)]
