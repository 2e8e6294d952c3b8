"""`mcc dlq` lists a dead-lettered incident, shows why, and replays it into exactly one work order."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

from services import cli
from services.dispatch import bootstrap
from services.dispatch.adapters.orm import metadata
from services.dispatch.config import DispatchSettings
from shared.events.catalog import INCIDENT_ACCEPTED
from tests.support.apps import jetstream, make_runtime, running, stream_messages
from tests.support.dispatch import CITY_CENTRE, accepted_incident
from tests.support.polling import eventually


def _mcc(capsys: Any, *argv: str) -> tuple[int, str]:
    code = cli.main(list(argv))
    return code, capsys.readouterr().out


async def test_a_dead_lettered_incident_replayed_by_mcc_dlq_becomes_exactly_one_order(db, nats_url, redis_url,
                                                                                        capsys):
    runtime = make_runtime("dispatch", DispatchSettings, metadata, db=db, nats_url=nats_url, redis_url=redis_url,
                           consumer_max_deliver=1)
    broken = {"yes": True}
    subscribe = runtime.bus.subscribe

    def with_a_bug(spec: Any) -> None:
        """The incident consumer has a bug (until it is 'deployed' fixed below)."""
        if spec.durable == "dispatch-incidents":
            handler = spec.handler

            async def buggy(event: Any) -> None:
                if broken["yes"]:
                    raise RuntimeError("a bug in routing")
                await handler(event)

            spec = dataclasses.replace(spec, handler=buggy, batch_handler=None)
        subscribe(spec)

    runtime.bus.subscribe = with_a_bug  # type: ignore[method-assign]
    event = accepted_incident()
    async with running(bootstrap.build(runtime=runtime)) as client, jetstream(nats_url) as js:
        await js.publish(INCIDENT_ACCEPTED.subject, event.to_json(), headers={"Nats-Msg-Id": event.id})
        await eventually(lambda: stream_messages(js, "MCC_DLQ"), timeout=30, message="dead-lettered")

        code, out = await asyncio.to_thread(_mcc, capsys, "dlq", "--nats-url", nats_url, "list", "--json")
        listed = [json.loads(line) for line in out.splitlines()]
        assert code == 0 and len(listed) == 1
        assert listed[0]["consumer"] == "dispatch-incidents" and listed[0]["subject"] == INCIDENT_ACCEPTED.subject
        assert listed[0]["event_id"] == event.id and "a bug in routing" in listed[0]["reason"]
        code, out = await asyncio.to_thread(_mcc, capsys, "dlq", "--nats-url", nats_url, "show",
                                            str(listed[0]["id"]))
        assert code == 0 and json.loads(out)["payload"]["data"]["incident_id"] == event.data.incident_id
        assert await _orders(client, event.data.incident_id) == []

        broken["yes"] = False  # the fix is deployed
        code, out = await asyncio.to_thread(_mcc, capsys, "dlq", "--nats-url", nats_url, "replay", "--all")
        assert code == 0 and f"event {event.id}" in out
        orders = await eventually(lambda: _orders(client, event.data.incident_id), timeout=30)
        assert len(orders) == 1 and orders[0]["state"] == "dispatched"
        assert await stream_messages(js, "MCC_DLQ") == []  # replayed letters are removed

        # The same event once more (a replay repeated by hand): the inbox ignores it.
        await js.publish(INCIDENT_ACCEPTED.subject, event.to_json(), headers={"Nats-Msg-Id": f"{event.id}-again"})
        await eventually(lambda: _consumer_done(js), message="consumer caught up")
        assert len(await _orders(client, event.data.incident_id)) == 1
        code, out = await asyncio.to_thread(_mcc, capsys, "dlq", "--nats-url", nats_url, "replay", "--all")
        assert code == 0 and out == ""


async def _orders(client: Any, incident_id: str) -> list[dict]:
    response = await client.get("/api/v1/orders", params={"incident_id": incident_id, "view": "all"},
                                headers=CITY_CENTRE)
    return response.json()["items"]


async def _consumer_done(js: Any) -> bool:
    info = await js.consumer_info("MCC_INCIDENTS", "dispatch-incidents")
    return info.num_pending == 0 and info.num_ack_pending == 0
