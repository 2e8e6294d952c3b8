"""Dispatch processes pinned to counties (MCC_DISPATCH_COUNTIES) route only their counties' incidents, and
groups covering every county between them route every incident once."""

from __future__ import annotations

import json

from sqlalchemy import select

from services.dispatch.adapters.orm import WorkOrder
from shared.events.catalog import INCIDENT_ACCEPTED, ORDER_EVENTS
from tests.support.apps import jetstream, stream_messages
from tests.support.dispatch import CC_TOWN, CHONGCHUAN, TONGZHOU, accepted_incident
from tests.support.polling import eventually


async def orders_by_incident(dispatch) -> dict[str, str]:
    async with dispatch.runtime.sessions() as s:
        return dict((await s.execute(select(WorkOrder.incident_id, WorkOrder.county_code))).all())


async def caught_up(js, durable: str) -> bool:
    info = await js.consumer_info(INCIDENT_ACCEPTED.stream, durable)
    return info.num_pending == 0 and info.num_ack_pending == 0


async def test_a_dispatch_pinned_to_one_county_routes_its_incidents_only_and_another_group_the_rest(
        start_dispatch, nats_url):
    tongzhou, chongchuan = accepted_incident(), accepted_incident(town=CC_TOWN)
    outside = accepted_incident(town=None)
    async with jetstream(nats_url) as js:
        async with start_dispatch(counties=TONGZHOU) as dispatch:
            for event in (tongzhou, chongchuan, outside):  # as intake's outbox publishes them
                await js.publish(INCIDENT_ACCEPTED.subject_for(event.data), event.to_json(),
                                 headers={"Nats-Msg-Id": event.id})
            await eventually(lambda: orders_by_incident(dispatch))
            # Caught up on its filter means it has seen every message it ever will: the others are not its.
            await eventually(lambda: caught_up(js, f"dispatch-incidents-{TONGZHOU}"), message="pinned caught up")
            assert await orders_by_incident(dispatch) == {tongzhou.data.incident_id: TONGZHOU}
            dispatched = await eventually(
                lambda: stream_messages(js, "MCC_ORDERS", ORDER_EVENTS["dispatched"].wildcard))
            assert [m.subject for m in dispatched] == [f"mcc.order.dispatched.{TONGZHOU}"]
            assert json.loads(dispatched[0].data)["data"]["incident_id"] == tongzhou.data.incident_id

        async with start_dispatch(counties=f"_none, {CHONGCHUAN}") as dispatch:  # any order, same group
            orders = await eventually(lambda: _all(orders_by_incident(dispatch), 3), timeout=30)
            await eventually(lambda: caught_up(js, f"dispatch-incidents-{CHONGCHUAN}-_none"), message="rest")
    assert orders == {tongzhou.data.incident_id: TONGZHOU, chongchuan.data.incident_id: CHONGCHUAN,
                      outside.data.incident_id: None}


async def _all(found, n: int):
    result = await found
    return result if len(result) >= n else None


async def test_overlapping_groups_route_a_shared_incident_in_both_and_make_its_order_once(start_dispatch, nats_url):
    # docs/operations.md: a pinned group beside the default one costs work, never a second order.
    incident = accepted_incident()
    async with jetstream(nats_url) as js, start_dispatch() as everyone, start_dispatch(counties=TONGZHOU):
        await js.publish(INCIDENT_ACCEPTED.subject_for(incident.data), incident.to_json(),
                         headers={"Nats-Msg-Id": incident.id})
        await eventually(lambda: caught_up(js, "dispatch-incidents"), message="default group caught up")
        await eventually(lambda: caught_up(js, f"dispatch-incidents-{TONGZHOU}"), message="pinned caught up")
        assert await orders_by_incident(everyone) == {incident.data.incident_id: TONGZHOU}
        dispatched = await eventually(  # the relay publishes after the commit
            lambda: stream_messages(js, "MCC_ORDERS", ORDER_EVENTS["dispatched"].wildcard))
        assert [m.subject for m in dispatched] == [f"mcc.order.dispatched.{TONGZHOU}"]
