"""Incident and order events are partitioned by county on a real nats-server: the real outbox publishes them
on subjects carrying their county (`_none` without one), a consumer group pinned to one county receives that
county's events only and one order's in order, and a durable made before partitioning takes the new subjects
without losing its place."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import nats as nats_client
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import MetaData

from shared.db import create_engine, session_factory
from shared.events.catalog import INCIDENT_ACCEPTED, ORDER_EVENTS
from shared.events.envelope import CloudEvent, utcnow
from shared.events.v1 import AppealType, Channel, OrderChanged, OrderState
from shared.messaging import Bus, ConsumerSpec
from shared.outbox import Outbox, messaging_tables
from shared.relay import OutboxRelay, jetstream_publisher
from tests.support.apps import stream_messages
from tests.support.dispatch import CHONGCHUAN, TONGZHOU, accepted_incident
from tests.support.polling import eventually

ORDERS = "MCC_ORDERS"


def order_event(order_id: str, county: str | None, version: int) -> OrderChanged:
    town = f"{county}101" if county else None
    return OrderChanged(order_id=order_id, order_number=f"GD{order_id[:8]}", incident_id=f"i-{order_id}",
                        action="x", from_state=None, to_state=OrderState.DISPATCHED, version=version,
                        unit_code=town or "320600", tier="town", town_code=town, county_code=county,
                        category_code="020101", appeal_type=AppealType.COMPLAINT, channel=Channel.HOTLINE,
                        source_ref=f"s-{order_id}", actor="system:test", occurred_at=utcnow())


@contextlib.asynccontextmanager
async def outbox_on(db: Any, nats_url: str, consumers: list[ConsumerSpec] = ()
                    ) -> AsyncIterator[tuple[Outbox, Any, Bus]]:
    """A service's outbox, its relay publishing on a Bus, and the Bus running `consumers`."""
    metadata = MetaData()
    table, _ = messaging_tables(metadata)
    engine = create_engine(db.url, schema=db.schema)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    sessions = session_factory(engine)
    bus = Bus(nats_url, service="partition-test", ack_wait_s=5)
    for spec in consumers:
        bus.subscribe(spec)
    await bus.start()
    await bus.wait_connected(30)
    outbox = Outbox(table, source="/mcc/test")
    relay = OutboxRelay(outbox, sessions, start_publish=jetstream_publisher(bus), poll_s=0.1, ack_timeout_s=3)
    relay_task = asyncio.create_task(relay.run())
    try:
        yield outbox, sessions, bus
    finally:
        relay.stop()
        relay_task.cancel()
        await asyncio.gather(relay_task, return_exceptions=True)
        await bus.stop()
        await engine.dispose()


async def commit(outbox: Outbox, sessions: Any, events: list[tuple[Any, Any]]) -> None:
    """Write events through the outbox in one transaction, as a handler's unit of work does."""
    async with sessions() as session:
        for spec, data in events:
            await outbox.add(session, spec, data, subject=getattr(data, "order_id", None))
        await session.commit()
    outbox.nudge()


async def test_the_outbox_publishes_incidents_and_orders_on_subjects_carrying_their_county(db, nats_url):
    tongzhou, chongchuan = accepted_incident(county=TONGZHOU), accepted_incident(town=None, county=CHONGCHUAN)
    outside = accepted_incident(town=None, county=None)
    a, b, c = (str(uuid.uuid4()) for _ in range(3))
    async with outbox_on(db, nats_url) as (outbox, sessions, _):
        await commit(outbox, sessions, [(INCIDENT_ACCEPTED, tongzhou.data), (INCIDENT_ACCEPTED, chongchuan.data),
                                        (INCIDENT_ACCEPTED, outside.data),
                                        (ORDER_EVENTS["dispatched"], order_event(a, TONGZHOU, 1)),
                                        (ORDER_EVENTS["signed"], order_event(a, TONGZHOU, 2)),
                                        (ORDER_EVENTS["dispatched"], order_event(b, CHONGCHUAN, 1)),
                                        (ORDER_EVENTS["queued"], order_event(c, None, 1))])
        nc = await nats_client.connect(nats_url)
        try:
            js = nc.jetstream()
            incidents = await eventually(lambda: _at_least(js, "MCC_INCIDENTS", INCIDENT_ACCEPTED.wildcard, 3))
            orders = await eventually(lambda: _at_least(js, ORDERS, "mcc.order.>", 4))
        finally:
            await nc.drain()
    assert {_id(m): m.subject for m in incidents} == {
        tongzhou.data.incident_id: "mcc.incident.accepted.320612",
        chongchuan.data.incident_id: "mcc.incident.accepted.320613",
        outside.data.incident_id: "mcc.incident.accepted._none"}
    assert [m.subject for m in orders] == ["mcc.order.dispatched.320612", "mcc.order.signed.320612",
                                           "mcc.order.dispatched.320613", "mcc.order.queued._none"]
    # The event id is still the Nats-Msg-Id: partitioning changed the subject only.
    assert all(m.headers["Nats-Msg-Id"] == json.loads(m.data)["id"] for m in incidents + orders)


async def test_a_group_pinned_to_one_county_receives_only_its_events_and_each_orders_in_order(db, nats_url):
    pinned: list[OrderChanged] = []
    everyone: list[OrderChanged] = []

    async def take(into: list[OrderChanged], event: CloudEvent[Any]) -> None:
        into.append(event.data)

    order_subjects = tuple(s for spec in ORDER_EVENTS.values() for s in spec.filters([TONGZHOU]))
    groups = [ConsumerSpec(stream=ORDERS, durable="orders-320612", subjects=order_subjects,
                           handler=lambda e: take(pinned, e)),
              ConsumerSpec(stream=ORDERS, durable="orders-all", subjects=("mcc.order.>",),
                           handler=lambda e: take(everyone, e))]
    ours, theirs = str(uuid.uuid4()), str(uuid.uuid4())
    steps = ["dispatched", "signed", "started", "urged", "closed", "followed_up", "archived"]
    async with outbox_on(db, nats_url, groups) as (outbox, sessions, _):
        # Two orders of two counties, their transitions interleaved and committed one at a time.
        for version, name in enumerate(steps, start=1):
            await commit(outbox, sessions, [(ORDER_EVENTS[name], order_event(ours, TONGZHOU, version))])
            await commit(outbox, sessions, [(ORDER_EVENTS[name], order_event(theirs, CHONGCHUAN, version))])
        await eventually(lambda: len(everyone) == 2 * len(steps), timeout=30)
        await eventually(lambda: len(pinned) == len(steps), timeout=30)
    assert {e.order_id for e in pinned} == {ours}
    assert [e.version for e in pinned] == list(range(1, len(steps) + 1))
    assert {e.county_code for e in everyone} == {TONGZHOU, CHONGCHUAN}


@pytest.mark.parametrize("made_by", ["the old release", "an operator, from a restore time"])
async def test_a_durable_made_before_partitioning_takes_the_county_subjects_and_keeps_its_place(
        db, nats_url, made_by):
    """An upgrade: the durable reads the bare subject and has consumed up to there. An operator's durable
    (delivering from a time) differs in more than its filter, which the server will not change in place."""
    since = {} if made_by == "the old release" else {
        "deliver_policy": DeliverPolicy.BY_START_TIME, "opt_start_time": (utcnow() - timedelta(hours=1)).isoformat()}
    handled: list[str] = []

    async def handle(event: CloudEvent[Any]) -> None:
        handled.append(event.data.incident_id)

    done, lagging, partitioned = (accepted_incident(county=TONGZHOU) for _ in range(3))
    nc = await nats_client.connect(nats_url)
    try:
        js = nc.jetstream()
        async with outbox_on(db, nats_url) as (outbox, sessions, _):  # creates the streams
            stream = INCIDENT_ACCEPTED.stream
            await js.add_consumer(stream, ConsumerConfig(durable_name="dispatch-incidents",
                                                         ack_policy=AckPolicy.EXPLICIT,
                                                         filter_subject=INCIDENT_ACCEPTED.subject, **since))
            await js.publish(INCIDENT_ACCEPTED.subject, done.to_json(), headers={"Nats-Msg-Id": done.id})
            sub = await js.pull_subscribe_bind(durable="dispatch-incidents", stream=stream)
            for msg in await sub.fetch(1, timeout=5):
                await msg.ack_sync()
            await sub.unsubscribe()
            # An old producer still publishing on the bare subject, and a new one on its county's.
            await js.publish(INCIDENT_ACCEPTED.subject, lagging.to_json(), headers={"Nats-Msg-Id": lagging.id})
            await commit(outbox, sessions, [(INCIDENT_ACCEPTED, partitioned.data)])
            await eventually(lambda: _at_least(js, stream, INCIDENT_ACCEPTED.wildcard, 1))
        spec = ConsumerSpec(stream=stream, durable="dispatch-incidents", subjects=INCIDENT_ACCEPTED.filters(),
                            handler=handle)
        async with outbox_on(db, nats_url, [spec]):
            await eventually(lambda: len(handled) >= 2, timeout=30)
        info = await js.consumer_info(stream, "dispatch-incidents")
    finally:
        await nc.drain()
    assert sorted(handled) == sorted([lagging.data.incident_id, partitioned.data.incident_id])
    assert set(info.config.filter_subjects or [info.config.filter_subject]) == set(INCIDENT_ACCEPTED.filters())


def _id(msg: Any) -> str:
    return json.loads(msg.data)["data"]["incident_id"]


async def _at_least(js: Any, stream: str, subject: str, n: int) -> list[Any] | None:
    found = await stream_messages(js, stream, subject)
    return found if len(found) >= n else None


pytestmark = pytest.mark.timeout(120)
