"""Grid's NATS consumers: work-order changes keep grid events' status current for the grid apps, a fetched
batch in one transaction (one by one only for a batch that failed)."""

from __future__ import annotations

from typing import Any

from services.grid.service import handlers
from shared.events.catalog import ORDER_EVENTS
from shared.events.envelope import CloudEvent
from shared.messaging import ConsumerSpec
from shared.runtime import Runtime


def consumers(runtime: Runtime) -> list[ConsumerSpec]:
    async def on_order(event: CloudEvent[Any]) -> None:
        await handlers.handle_order_changed(event, uow=runtime.uow())

    async def on_orders(events: list[CloudEvent[Any]]) -> None:
        await handlers.handle_orders_changed(events, uow=runtime.uow())

    stream = next(iter(ORDER_EVENTS.values())).stream
    return [ConsumerSpec(stream=stream, durable=handlers.CONSUMER_ORDERS, subjects=("mcc.order.>",),
                         handler=on_order, batch_handler=on_orders, batch=200)]
