"""Dispatch turns located incidents into work orders, once, whatever NATS redelivers."""

from __future__ import annotations

import json
import uuid

from sqlalchemy import func, select

from services.dispatch import bootstrap
from services.dispatch.adapters.orm import OrderAudit, WorkOrder, metadata
from services.dispatch.config import DispatchSettings
from shared.events.catalog import INCIDENT_ACCEPTED, ORDER_EVENTS, dead_letter_subject
from tests.support.apps import jetstream, make_runtime, running, stream_messages
from tests.support.dispatch import CITY_CENTRE, accepted_incident
from tests.support.polling import eventually


async def count(runtime, model, *where) -> int:
    async with runtime.sessions() as s:
        return (await s.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


async def test_the_same_incident_event_delivered_twice_creates_one_work_order(db, nats_url, redis_url):
    runtime = make_runtime("dispatch", DispatchSettings, metadata, db=db, nats_url=nats_url, redis_url=redis_url)
    app = bootstrap.build(runtime=runtime)
    event = accepted_incident()
    async with running(app) as client, jetstream(nats_url) as js:
        # Twice with the same Nats-Msg-Id (deduplicated by JetStream) and once more under a new msg id, as
        # a producer that lost its dedup window would: the inbox and the unique incident id hold.
        for msg_id in (event.id, event.id, f"{event.id}-again"):
            await js.publish(INCIDENT_ACCEPTED.subject, event.to_json(), headers={"Nats-Msg-Id": msg_id})
        republished = event.model_copy(update={"id": str(uuid.uuid4())})
        await js.publish(INCIDENT_ACCEPTED.subject, republished.to_json(), headers={"Nats-Msg-Id": republished.id})

        await eventually(lambda: _nonempty(client, event.data.incident_id))
        await eventually(lambda: _consumer_done(js, "dispatch-incidents"), message="consumer caught up")
        orders = (await client.get("/api/v1/orders", params={"incident_id": event.data.incident_id, "view": "all"},
                                   headers=CITY_CENTRE)).json()["items"]
        assert len(orders) == 1
        order = orders[0]
        assert order["state"] == "dispatched" and order["unit_code"] == "320612101" and order["tier"] == "town"
        assert order["number"].startswith("GD")
        assert await count(runtime, WorkOrder) == 1
        assert await count(runtime, OrderAudit) == 1

        dispatched = await eventually(lambda: stream_messages(js, "MCC_ORDERS", ORDER_EVENTS["dispatched"].wildcard))
        assert len(dispatched) == 1
        body = json.loads(dispatched[0].data)
        assert body["type"] == "cn.mcc.order.dispatched.v1" and body["data"]["order_id"] == order["id"]
        assert dispatched[0].headers["Nats-Msg-Id"] == body["id"]

        read = await client.get(f"/api/v1/orders/{order['number']}", headers=CITY_CENTRE)
        assert read.status_code == 200 and read.json()["id"] == order["id"]


async def _consumer_done(js, durable: str) -> bool:
    info = await js.consumer_info("MCC_INCIDENTS", durable)
    return info.num_pending == 0 and info.num_ack_pending == 0


async def test_a_malformed_incident_message_is_dead_lettered_with_its_reason_and_the_next_is_processed(
        db, nats_url, redis_url):
    runtime = make_runtime("dispatch", DispatchSettings, metadata, db=db, nats_url=nats_url, redis_url=redis_url)
    app = bootstrap.build(runtime=runtime)
    good = accepted_incident()
    bad_data = accepted_incident().model_dump(mode="json")
    bad_data["data"]["category_code"] = ""  # fails the contract
    async with running(app) as client, jetstream(nats_url) as js:
        await js.publish(INCIDENT_ACCEPTED.subject, b"{not json", headers={"Nats-Msg-Id": "garbage-1"})
        await js.publish(INCIDENT_ACCEPTED.subject, json.dumps(bad_data).encode(), headers={"Nats-Msg-Id": "bad-2"})
        await js.publish(INCIDENT_ACCEPTED.subject, good.to_json(), headers={"Nats-Msg-Id": good.id})

        dlq_subject = dead_letter_subject("MCC_INCIDENTS", "dispatch-incidents")
        dead = await eventually(lambda: _at_least(stream_messages(js, "MCC_DLQ", dlq_subject), 2))
        reasons = [json.loads(m.data)["data"]["reason"] for m in dead]
        assert any("not a CloudEvents 1.0 JSON envelope" in r for r in reasons)
        assert any("category_code" in r for r in reasons)
        assert json.loads(dead[0].data)["data"]["payload"] == "{not json"

        orders = await eventually(lambda: _nonempty(client, good.data.incident_id))
        assert orders[0]["state"] == "dispatched"


async def _at_least(messages_coro, n: int):
    messages = await messages_coro
    return messages if len(messages) >= n else None


async def _nonempty(client, incident_id: str):
    response = await client.get("/api/v1/orders", params={"incident_id": incident_id, "view": "all"},
                                headers=CITY_CENTRE)
    return response.json()["items"] or None


async def test_an_incident_that_already_has_its_order_takes_no_number_when_it_comes_again(db, nats_url, redis_url):
    runtime = make_runtime("dispatch", DispatchSettings, metadata, db=db, nats_url=nats_url, redis_url=redis_url)
    app = bootstrap.build(runtime=runtime)
    first, second = accepted_incident(), accepted_incident()
    async with running(app) as client, jetstream(nats_url) as js:
        await js.publish(INCIDENT_ACCEPTED.subject, first.to_json(), headers={"Nats-Msg-Id": first.id})
        await eventually(lambda: _nonempty(client, first.data.incident_id))
        # The same incident again, after its order exists (a producer past its dedup window), then a new one.
        again = first.model_copy(update={"id": str(uuid.uuid4())})
        await js.publish(INCIDENT_ACCEPTED.subject, again.to_json(), headers={"Nats-Msg-Id": again.id})
        await eventually(lambda: _consumer_done(js, "dispatch-incidents"), message="consumer caught up")
        await js.publish(INCIDENT_ACCEPTED.subject, second.to_json(), headers={"Nats-Msg-Id": second.id})
        await eventually(lambda: _nonempty(client, second.data.incident_id))
        numbers = []
        for incident in (first, second):
            items = (await client.get("/api/v1/orders", params={"incident_id": incident.data.incident_id,
                                                                "view": "all"}, headers=CITY_CENTRE)).json()["items"]
            assert len(items) == 1
            numbers.append(int(items[0]["number"][-6:]))
        assert numbers[1] == numbers[0] + 1  # the copy burnt no number: the day's numbers stay without a gap
        assert await count(runtime, WorkOrder) == 2
