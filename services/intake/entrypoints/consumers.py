"""Intake's NATS consumers."""

from __future__ import annotations

from typing import Any

from services.intake.service import handlers
from shared.events.catalog import INCIDENT_REPORTED
from shared.events.envelope import CloudEvent
from shared.messaging import ConsumerSpec
from shared.runtime import Runtime


def consumers(runtime: Runtime, *, locator: handlers.Locator,
              places: handlers.AddressMatcher | None = None) -> list[ConsumerSpec]:
    async def on_reported(event: CloudEvent[Any]) -> None:
        await handlers.handle_incident_reported(event, uow=runtime.uow(), locator=locator, places=places)

    return [ConsumerSpec(stream=INCIDENT_REPORTED.stream, durable=handlers.CONSUMER_REPORTED,
                         subjects=(INCIDENT_REPORTED.subject,), handler=on_reported)]
