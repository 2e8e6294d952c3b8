"""Handling at the grid (就地解决, 上报, 提级), status from work-order events, and the since cursor."""

from __future__ import annotations

import json
import uuid

from services.grid.service.handlers import CONSUMER_ORDERS
from shared import metrics
from shared.events.catalog import ORDER_EVENTS
from shared.events.envelope import CloudEvent, utcnow
from shared.events.v1 import AppealType, Channel, OrderChanged
from tests.integration.grid.conftest import TOWN_A, TOWN_B
from tests.support.apps import jetstream, stream_messages
from tests.support.polling import eventually


def outcome(name: str) -> float:
    return metrics.GRID_EVENTS.labels(name)._value.get()


def order_changed(event: dict, to_state: str, *, action: str, version: int) -> CloudEvent[OrderChanged]:
    data = OrderChanged(order_id="o-1", order_number="GD20261123000001", incident_id=event["incident_id"],
                        action=action, from_state=None, to_state=to_state, version=version, unit_code=TOWN_A,
                        tier="town", town_code=TOWN_A, category_code="0301", appeal_type=AppealType.HELP,
                        channel=Channel.GRID, source_ref=event["id"], actor="system:test", occurred_at=utcnow())
    return CloudEvent[OrderChanged](source="/mcc/dispatch", type=ORDER_EVENTS[to_state].type, data=data,
                                    subject="o-1")


async def test_an_event_resolved_on_the_spot_is_closed_with_evidence_counted_and_not_sent_up(start_grid, nats_url):
    async with start_grid() as grid, jetstream(nats_url) as js:
        headers = await grid.key(TOWN_A)
        no_evidence = await grid.report(headers, handling="resolved_on_spot")
        assert no_evidence.status_code == 422 and no_evidence.json()["detail"][0]["field"] == "after_photo_ids"

        before = outcome("resolved_on_spot")
        after_photo = await grid.photo(headers)
        fixed = await grid.report(headers, handling="resolved_on_spot", after_photo_ids=[after_photo],
                                  resolution_note="当场清理")
        assert fixed.status_code == 201, fixed.text
        assert (fixed.json()["state"], fixed.json()["after_photo_ids"]) == ("resolved_on_spot", [after_photo])
        assert outcome("resolved_on_spot") == before + 1
        reported = await grid.report(headers)  # one that does go up, to know the outbox has drained
        await eventually(lambda: stream_messages(js, "MCC_INTAKE", "mcc.intake.reported"))
        sent = [json.loads(m.data)["data"]["source_ref"] for m in await stream_messages(js, "MCC_INTAKE")]
        assert sent == [reported.json()["id"]]
        summary = (await grid.client.get("/api/v1/events/summary", headers=grid.staff)).json()
        assert (summary["resolved_on_spot"], summary["reported"], summary["total"]) == (1, 1, 2)


async def test_a_pending_event_can_be_escalated_once_and_then_not_resolved(start_grid, nats_url):
    async with start_grid() as grid, jetstream(nats_url) as js:
        headers = await grid.key(TOWN_A)
        pending = (await grid.report(headers, handling="pending")).json()
        assert pending["state"] == "pending"
        before = outcome("escalated")
        up = await grid.client.post(f"/api/v1/events/{pending['id']}/escalate", headers=headers)
        assert up.status_code == 200 and (up.json()["state"], up.json()["escalated"]) == ("escalated", True)
        retry = await grid.client.post(f"/api/v1/events/{pending['id']}/escalate", headers=headers)
        assert retry.json() == up.json()
        assert outcome("escalated") == before + 1
        photo = await grid.photo(headers)
        late = await grid.client.post(f"/api/v1/events/{pending['id']}/resolve", headers=headers,
                                      json={"after_photo_ids": [photo]})
        assert late.status_code == 409 and "escalated" in late.json()["detail"]
        sent = await eventually(lambda: stream_messages(js, "MCC_INTAKE", "mcc.intake.reported"))
        assert [json.loads(m.data)["data"]["source_ref"] for m in sent] == [pending["id"]]

        other = (await grid.report(headers, handling="pending")).json()
        resolved = await grid.client.post(f"/api/v1/events/{other['id']}/resolve", headers=headers,
                                          json={"after_photo_ids": [photo], "note": "已修复"})
        assert resolved.status_code == 200 and resolved.json()["state"] == "resolved_on_spot"
        refused = await grid.client.post(f"/api/v1/events/{other['id']}/escalate", headers=headers)
        assert refused.status_code == 409


async def test_order_events_keep_the_status_and_the_app_reads_changes_after_its_cursor(start_grid, nats_url):
    async with start_grid() as grid, jetstream(nats_url) as js:
        town_a, town_b = await grid.key(TOWN_A), await grid.key(TOWN_B)
        event = (await grid.report(town_a)).json()
        elsewhere = (await grid.report(town_b, town=TOWN_B)).json()
        start = (await grid.client.get("/api/v1/events", headers=town_a)).json()
        assert [e["id"] for e in start["items"]] == [event["id"]]  # not town B's event
        cursor = start["cursor"]

        dispatched = order_changed(event, "dispatched", action="dispatch", version=1)
        for _ in range(2):  # redelivered under another msg id: the inbox keeps one effect
            await js.publish(ORDER_EVENTS["dispatched"].subject, dispatched.to_json(),
                             headers={"Nats-Msg-Id": str(uuid.uuid4())})

        async def changed():
            body = (await grid.client.get("/api/v1/events", params={"since": cursor}, headers=town_a)).json()
            return body if body["items"] else None

        body = await eventually(changed)
        assert [(e["id"], e["state"], e["order_number"]) for e in body["items"]] == [
            (event["id"], "dispatched", "GD20261123000001")]
        signed = order_changed(event, "signed", action="sign", version=2)
        await js.publish(ORDER_EVENTS["signed"].subject, signed.to_json(), headers={"Nats-Msg-Id": signed.id})
        await eventually(lambda: _state(grid, town_a, event["id"], "signed"))
        after = (await grid.client.get("/api/v1/events", params={"since": body["cursor"]}, headers=town_a)).json()
        assert [e["state"] for e in after["items"]] == ["signed"]
        assert after["cursor"] > body["cursor"] > cursor
        info = await js.consumer_info("MCC_ORDERS", CONSUMER_ORDERS)
        assert info.num_ack_pending == 0
        again = (await grid.client.get("/api/v1/events", params={"since": after["cursor"]}, headers=town_a)).json()
        assert again["items"] == [] and again["cursor"] == after["cursor"]
        assert elsewhere["state"] == "reported"


async def _state(grid, headers, event_id: str, state: str) -> bool:
    return (await grid.client.get(f"/api/v1/events/{event_id}", headers=headers)).json()["state"] == state


async def test_a_registered_webhook_receives_the_keys_changes_signed_and_retries_a_failing_receiver(start_grid):
    from services.grid.service.handlers import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

    received: list[tuple[str, bytes, dict]] = []
    answers = iter([False])  # the receiver fails once, then accepts

    async def receiver(url: str, body: bytes, headers: dict) -> bool:
        received.append((url, body, headers))
        return next(answers, True)

    async with start_grid(webhook_poll_s=0.05) as grid:
        grid.app.state.webhook_send = receiver
        town_a, town_b = await grid.key(TOWN_A), await grid.key(TOWN_B)
        keys = (await grid.client.get("/api/v1/admin/api-keys", headers=grid.admin)).json()
        hook = await grid.client.put(f"/api/v1/admin/api-keys/{keys[0]['id']}/webhook", headers=grid.admin,
                                     json={"url": "https://app.example/hooks/mcc"})
        assert hook.status_code == 200 and len(hook.json()["secret"]) == 64
        event = (await grid.report(town_a)).json()
        await grid.report(town_b, town=TOWN_B)  # outside the hooked key's scope: never pushed to it

        await eventually(lambda: len(received) >= 2, timeout=20)
        url, body, headers = received[-1]
        assert url == "https://app.example/hooks/mcc" and received[0][1] == body  # the retry sends the same
        assert headers[SIGNATURE_HEADER] == sign(hook.json()["secret"], headers[TIMESTAMP_HEADER], body)
        pushed = json.loads(body)
        assert [e["id"] for e in pushed["events"]] == [event["id"]] and pushed["cursor"] == event["change_seq"]
        refused = await grid.client.put("/api/v1/admin/api-keys/nokey/webhook", headers=grid.admin,
                                        json={"url": "https://x.example/h"})
        assert refused.status_code == 404
