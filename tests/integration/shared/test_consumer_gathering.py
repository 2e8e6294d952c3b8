"""A consumer that gathers (`ConsumerSpec.gather_s`) takes a message that arrives while it waits into the same
batch as the one it fetched alone: one batch-handler call for a trickle, each message still acked once."""

from __future__ import annotations

from typing import Any

from shared.events.catalog import INCIDENT_ACCEPTED
from shared.messaging import Bus, ConsumerSpec
from tests.support.apps import jetstream
from tests.support.dispatch import accepted_incident
from tests.support.polling import eventually

STREAM, SUBJECT = INCIDENT_ACCEPTED.stream, INCIDENT_ACCEPTED.subject


async def test_a_message_arriving_while_the_consumer_gathers_joins_the_batch_of_the_one_fetched_before_it(nats_url):
    batches: list[list[str]] = []
    alone: list[str] = []

    async def handler(event: Any) -> None:
        alone.append(event.id)

    async def batch_handler(events: list[Any]) -> None:
        batches.append([e.id for e in events])

    bus = Bus(nats_url, service="test")
    # Long enough that the second publish lands inside the wait on a loaded machine.
    bus.subscribe(ConsumerSpec(stream=STREAM, durable="gathers", subjects=(SUBJECT,), handler=handler,
                               batch_handler=batch_handler, gather_s=5.0))
    await bus.start()
    try:
        await bus.wait_connected()
        first, second = accepted_incident(), accepted_incident()
        async with jetstream(nats_url) as js:
            await js.publish(SUBJECT, first.to_json(), headers={"Nats-Msg-Id": first.id})

            async def fetched_not_handled() -> bool:  # the first is out for delivery, the consumer waiting
                info = await js.consumer_info(STREAM, "gathers")
                return info.num_ack_pending == 1 and not batches and not alone

            await eventually(fetched_not_handled, message="the first message fetched and held")
            await js.publish(SUBJECT, second.to_json(), headers={"Nats-Msg-Id": second.id})
            await eventually(lambda: batches or alone, timeout=30, message="handled")

            async def all_acked() -> bool:
                info = await js.consumer_info(STREAM, "gathers")
                return info.num_ack_pending == 0 and info.num_pending == 0

            await eventually(all_acked, message="both acked")
        assert batches == [[first.id, second.id]] and alone == []
    finally:
        await bus.stop()
