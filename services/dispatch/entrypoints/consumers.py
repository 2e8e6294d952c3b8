"""Dispatch's NATS consumers: parse (done by the bus), call a handler, and let the bus ack."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.dispatch.service import handlers
from shared.events.catalog import APPEAL_DISPOSED, FOLLOWUP_RECORDED, INCIDENT_ACCEPTED, county_token
from shared.events.envelope import CloudEvent
from shared.messaging import ConsumerSpec
from shared.runtime import Runtime

# A trickle of incidents (tens a second) otherwise comes one a fetch, each its own transaction of six statements:
# waiting this long when a fetch brings less than a batch gathers a few into one, for tens of ms more per order.
GATHER_S = 0.03


def consumers(runtime: Runtime, holder: handlers.PolicyHolder,
              counties: Sequence[str] | None = None) -> list[ConsumerSpec]:
    """`counties` pins this process's incident consumer to those counties (MCC_DISPATCH_COUNTIES): a durable
    of its own per set of counties, shared by the processes given the same set. Follow-ups and dispositions
    are not partitioned and stay on the one durable every dispatch process shares."""
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

    # Groups whose counties overlap, or a pinned group beside the default one, do the work twice but apply it
    # once: an incident has one order (unique incident id), and the handler's INSERT skips those that have one.
    incidents = handlers.CONSUMER_INCIDENTS
    if counties:
        incidents += "-" + "-".join(sorted({county_token(c) for c in counties}))  # a set: order is no matter
    return [
        ConsumerSpec(stream=INCIDENT_ACCEPTED.stream, durable=incidents,
                     subjects=INCIDENT_ACCEPTED.filters(counties or None), handler=on_incident,
                     batch_handler=on_incidents, batch=200, gather_s=GATHER_S),
        ConsumerSpec(stream=FOLLOWUP_RECORDED.stream, durable=handlers.CONSUMER_FOLLOWUPS,
                     subjects=(FOLLOWUP_RECORDED.subject,), handler=on_follow_up),
        ConsumerSpec(stream=APPEAL_DISPOSED.stream, durable=handlers.CONSUMER_DISPOSITIONS,
                     subjects=(APPEAL_DISPOSED.subject,), handler=on_disposition,
                     batch_handler=on_dispositions, batch=200),
    ]
