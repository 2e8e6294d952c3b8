"""Grid's NATS consumers: work-order changes keep grid events' status current for the grid apps."""

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

    stream = next(iter(ORDER_EVENTS.values())).stream
    return [ConsumerSpec(stream=stream, durable=handlers.CONSUMER_ORDERS, subjects=("mcc.order.>",),
                         handler=on_order)]
