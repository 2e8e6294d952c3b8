"""A consumer waits out a dependency that is down, dead-letters only what can never succeed, and stops
in an order that leaves its clients open for what it is still handling. Real NATS throughout."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from prometheus_client import REGISTRY

from shared.events.catalog import INCIDENT_ACCEPTED, dead_letter_subject
from shared.messaging import Bus, ConsumerSpec, PoisonMessage, TransientError
from tests.support.apps import jetstream, stream_messages
from tests.support.dispatch import accepted_incident
from tests.support.polling import eventually

STREAM, SUBJECT = INCIDENT_ACCEPTED.stream, INCIDENT_ACCEPTED.subject


def _bus(nats_url: str, **kwargs: Any) -> Bus:
    kwargs = {"max_deliver": 2, "ack_wait_s": 1.0, "retry_cap_s": 0.2, **kwargs}
    return Bus(nats_url, service="test", **kwargs)


async def _publish(js: Any, event: Any) -> None:
    await js.publish(SUBJECT, event.to_json(), headers={"Nats-Msg-Id": event.id})


async def _consumer_info(js: Any, durable: str) -> Any:
    return await js.consumer_info(STREAM, durable)


def _retry_age(durable: str) -> float:
    return REGISTRY.get_sample_value("mcc_consumer_retry_oldest_seconds",
                                     {"service": "test", "consumer": durable}) or 0.0


async def test_a_message_whose_dependency_stays_down_past_every_delivery_limit_is_retried_until_it_succeeds(
        nats_url):
    event = accepted_incident()
    outage = {"failures_left": 12, "handled": []}

    async def handler(e: Any) -> None:
        if outage["failures_left"]:
            outage["failures_left"] -= 1
            raise TransientError("grid registry unavailable: connection refused")
        outage["handled"].append(e.id)

    bus = _bus(nats_url)  # max_deliver=2 and ack_wait=1 s: 12 failures over several seconds outlast both
    bus.subscribe(ConsumerSpec(stream=STREAM, durable="waits", subjects=(SUBJECT,), handler=handler))
    await bus.start()
    try:
        await bus.wait_connected()
        async with jetstream(nats_url) as js:
            await _publish(js, event)
            await eventually(lambda: bus.retrying("waits") == 1, message="message waiting for its dependency")
            await eventually(lambda: _retry_age("waits") > 0, message="retry age exposed")
            await eventually(lambda: outage["handled"], timeout=60, message="handled once the dependency is back")
            assert outage["handled"] == [event.id]
            info = await eventually(lambda: _settled(js, "waits"))
            assert info.delivered.consumer_seq == 1  # one delivery, retried in place, never given up on
            assert await stream_messages(js, "MCC_DLQ") == []
            assert bus.retrying("waits") == 0 and _retry_age("waits") == 0
    finally:
        await bus.stop()


async def test_a_database_that_is_locked_counts_as_a_dependency_being_down_not_as_a_bug(nats_url):
    import sqlite3

    from sqlalchemy.exc import OperationalError

    event = accepted_incident()
    calls: list[int] = []

    async def handler(_: Any) -> None:
        calls.append(1)
        if len(calls) <= 4:  # more than max_deliver: a bug would be dead-lettered by now
            raise OperationalError("UPDATE counter SET value=value+1", {}, sqlite3.OperationalError("database is locked"))

    bus = _bus(nats_url)
    bus.subscribe(ConsumerSpec(stream=STREAM, durable="locked", subjects=(SUBJECT,), handler=handler))
    await bus.start()
    try:
        await bus.wait_connected()
        async with jetstream(nats_url) as js:
            await _publish(js, event)
            await eventually(lambda: _settled(js, "locked"), timeout=30)
            assert len(calls) == 5
            assert await stream_messages(js, "MCC_DLQ") == []
    finally:
        await bus.stop()


async def test_a_handler_that_keeps_failing_with_a_bug_is_dead_lettered_after_max_deliver_and_the_next_goes_on(
        nats_url):
    broken, fine = accepted_incident(), accepted_incident()
    handled: list[str] = []

    async def handler(e: Any) -> None:
        if e.id == broken.id:
            raise KeyError("a bug")
        if e.id == fine.id:
            handled.append(e.id)

    bus = _bus(nats_url)
    bus.subscribe(ConsumerSpec(stream=STREAM, durable="buggy", subjects=(SUBJECT,), handler=handler))
    await bus.start()
    try:
        await bus.wait_connected()
        async with jetstream(nats_url) as js:
            await _publish(js, broken)
            await _publish(js, fine)
            dead = await eventually(lambda: _nonempty(stream_messages(js, "MCC_DLQ")), timeout=30)
            letter = json.loads(dead[0].data)["data"]
            assert letter["deliveries"] == 2 and "KeyError" in letter["reason"]
            assert dead[0].subject == dead_letter_subject(STREAM, "buggy")
            await eventually(lambda: handled == [fine.id])
    finally:
        await bus.stop()


async def test_a_poison_message_is_dead_lettered_on_its_first_delivery(nats_url):
    event = accepted_incident()

    async def handler(_: Any) -> None:
        raise PoisonMessage("the unit code names no unit")

    bus = _bus(nats_url, max_deliver=5)
    bus.subscribe(ConsumerSpec(stream=STREAM, durable="poison", subjects=(SUBJECT,), handler=handler))
    await bus.start()
    try:
        await bus.wait_connected()
        async with jetstream(nats_url) as js:
            await _publish(js, event)
            dead = await eventually(lambda: _nonempty(stream_messages(js, "MCC_DLQ")), timeout=30)
            letter = json.loads(dead[0].data)["data"]
            assert letter["deliveries"] == 1 and letter["reason"] == "the unit code names no unit"
            assert letter["headers"]["Nats-Msg-Id"] == event.id
    finally:
        await bus.stop()


async def test_stopping_while_a_dependency_is_down_gives_the_message_back_to_the_next_process(nats_url):
    event = accepted_incident()
    handled: list[str] = []

    async def down(_: Any) -> None:
        raise TransientError("connection refused")

    async def up(e: Any) -> None:
        handled.append(e.id)

    first = _bus(nats_url, ack_wait_s=30.0, retry_cap_s=5.0)
    first.subscribe(ConsumerSpec(stream=STREAM, durable="handover", subjects=(SUBJECT,), handler=down))
    await first.start()
    await first.wait_connected()
    async with jetstream(nats_url) as js:
        await _publish(js, event)
        await eventually(lambda: first.retrying("handover") == 1)
        await asyncio.wait_for(first.stop(), 10)  # promptly: the wait between retries ends at stop

        second = _bus(nats_url, ack_wait_s=30.0)
        second.subscribe(ConsumerSpec(stream=STREAM, durable="handover", subjects=(SUBJECT,), handler=up))
        await second.start()
        try:
            # Given back with a nak, not left to the 30 s ack wait.
            await eventually(lambda: handled == [event.id], timeout=20)
        finally:
            await second.stop()


async def _settled(js: Any, durable: str) -> Any:
    info = await _consumer_info(js, durable)
    return info if info.num_pending == 0 and info.num_ack_pending == 0 and info.delivered.consumer_seq else None


async def _nonempty(coro: Any) -> Any:
    return (await coro) or None
