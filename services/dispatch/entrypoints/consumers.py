"""Dispatch's NATS consumers: parse (done by the bus), call a handler, and let the bus ack."""

from __future__ import annotations

from typing import Any

from services.dispatch.service import handlers
from shared.events.catalog import APPEAL_DISPOSED, FOLLOWUP_RECORDED, INCIDENT_ACCEPTED
from shared.events.envelope import CloudEvent
from shared.messaging import ConsumerSpec
from shared.runtime import Runtime


def consumers(runtime: Runtime, holder: handlers.PolicyHolder) -> list[ConsumerSpec]:
    async def on_incident(event: CloudEvent[Any]) -> None:
        await holder.ready.wait()
        await handlers.handle_incident_accepted(event, uow=runtime.uow(), holder=holder)

    async def on_incidents(events: list[CloudEvent[Any]]) -> None:
        await holder.ready.wait()
        await handlers.handle_incidents_accepted(events, uow=runtime.uow(), holder=holder)

    async def on_follow_up(event: CloudEvent[Any]) -> None:
        await holder.ready.wait()
        await handlers.handle_follow_up(event, uow=runtime.uow(), holder=holder)

    async def on_disposition(event: CloudEvent[Any]) -> None:
        await handlers.handle_appeal_disposed(event, uow=runtime.uow())

    async def on_dispositions(events: list[CloudEvent[Any]]) -> None:
        await handlers.handle_appeals_disposed(events, uow=runtime.uow())

    return [
        ConsumerSpec(stream=INCIDENT_ACCEPTED.stream, durable=handlers.CONSUMER_INCIDENTS,
                     subjects=(INCIDENT_ACCEPTED.subject,), handler=on_incident, batch_handler=on_incidents,
                     batch=200),
        ConsumerSpec(stream=FOLLOWUP_RECORDED.stream, durable=handlers.CONSUMER_FOLLOWUPS,
                     subjects=(FOLLOWUP_RECORDED.subject,), handler=on_follow_up),
        ConsumerSpec(stream=APPEAL_DISPOSED.stream, durable=handlers.CONSUMER_DISPOSITIONS,
                     subjects=(APPEAL_DISPOSED.subject,), handler=on_disposition,
                     batch_handler=on_dispositions, batch=200),
    ]
