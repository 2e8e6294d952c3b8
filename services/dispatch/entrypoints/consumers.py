"""Dispatch's NATS consumers: parse (done by the bus), call a handler, and let the bus ack."""

from __future__ import annotations

from typing import Any

from services.dispatch.service import handlers
from shared.events.catalog import INCIDENT_ACCEPTED
from shared.events.envelope import CloudEvent
from shared.messaging import ConsumerSpec
from shared.runtime import Runtime


def consumers(runtime: Runtime, *, city_code: str) -> list[ConsumerSpec]:
    async def on_incident(event: CloudEvent[Any]) -> None:
        await handlers.handle_incident_accepted(event, uow=runtime.uow(), city_code=city_code)

    return [ConsumerSpec(stream=INCIDENT_ACCEPTED.stream, durable=handlers.CONSUMER_INCIDENTS,
                         subjects=(INCIDENT_ACCEPTED.subject,), handler=on_incident)]
