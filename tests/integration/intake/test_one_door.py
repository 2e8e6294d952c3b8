"""Every channel goes through one door: a category must exist, urgency defaults from it, emergencies from
apps are flagged urgent, and each accepted incident is counted once however often it is delivered."""

from __future__ import annotations

import json
import uuid

from prometheus_client import REGISTRY

from services.intake.service import handlers
from shared.events.catalog import INCIDENT_ACCEPTED, INCIDENT_REPORTED
from shared.events.envelope import utcnow
from shared.events.v1 import CallerRef, Channel, IncidentReported, Location, Reporter
from shared.outbox import build_event
from tests.support.apps import jetstream, stream_messages
from tests.support.dispatch import CITY_CENTRE
from tests.support.polling import eventually


def reported(*, channel: Channel = Channel.HOTLINE, category: str = "010201", **extra) -> IncidentReported:
    ref = uuid.uuid4().hex[:16]
    fields = dict(incident_id=f"inc-{ref}", channel=channel, source_ref=ref, category_code=category,
                  description="路灯不亮已经一周", location=Location(town_code="320613101", county_code="320613"),
                  reported_at=utcnow())
    fields.update(extra)
    return IncidentReported(**fields)


def appeals(channel: str, appeal_type: str, group: str) -> float:
    return REGISTRY.get_sample_value("mcc_appeals_received_total",
                                     {"channel": channel, "appeal_type": appeal_type, "category_group": group}) or 0


async def accepted_messages(js, incident_id: str) -> list[dict]:
    messages = await stream_messages(js, "MCC_INCIDENTS", INCIDENT_ACCEPTED.wildcard)
    bodies = [json.loads(m.data) for m in messages]
    return [b for b in bodies if b["data"]["incident_id"] == incident_id]


async def test_a_report_in_an_unknown_category_is_rejected_with_its_reason_and_never_dispatched(
        start_intake, nats_url):
    async with start_intake() as intake, jetstream(nats_url) as js:
        bad, good = reported(category="999999"), reported()
        for report in (bad, good):
            event = build_event(INCIDENT_REPORTED, report, source="/test")
            await js.publish(INCIDENT_REPORTED.subject, event.to_json(), headers={"Nats-Msg-Id": event.id})
        await eventually(lambda: accepted_messages(js, good.incident_id))
        stored = await eventually(lambda: intake.client.get(f"/api/v1/incidents/{bad.incident_id}", headers=CITY_CENTRE))
        assert stored.status_code == 200
        assert stored.json()["status"] == "rejected" and "category_code" in stored.json()["reason"]
        assert await accepted_messages(js, bad.incident_id) == []
        listed = await intake.client.get("/api/v1/incidents", params={"status": "rejected"}, headers=intake.city)
        assert [i["id"] for i in listed.json()] == [bad.incident_id]
        assert (await intake.client.get("/api/v1/incidents", headers=intake.town)).status_code == 403


async def test_without_an_urgency_the_category_default_applies_and_one_incident_counts_once(start_intake):
    async with start_intake() as intake:
        report = reported(category="010202")  # 路灯杆倾斜损坏: urgent by default
        before = appeals("hotline", "help", "01")
        event = build_event(INCIDENT_REPORTED, report, source="/test")
        again = event.model_copy(update={"id": str(uuid.uuid4())})  # a producer that republished it
        reference = intake.app.state.reference
        for delivery in (event, event, again):
            await handlers.handle_incident_reported(delivery, uow=intake.runtime.uow(), locator=None,
                                                    reference=reference)
        incident = (await intake.client.get(f"/api/v1/incidents/{report.incident_id}", headers=CITY_CENTRE)).json()
        assert incident["status"] == "accepted" and incident["urgency"] == "urgent"
        assert appeals("hotline", "help", "01") == before + 1
        assert await intake.count("incident") == 1


async def test_an_emergency_category_from_a_grid_worker_is_accepted_but_flagged_urgent(start_intake, nats_url):
    async with start_intake() as intake, jetstream(nats_url) as js:
        report = reported(channel=Channel.GRID, category="060101", urgency="normal",  # 燃气泄漏 → 119
                          reporter=Reporter(id="gw-1", role="grid_worker"))
        event = build_event(INCIDENT_REPORTED, report, source="/test")
        await js.publish(INCIDENT_REPORTED.subject, event.to_json(), headers={"Nats-Msg-Id": event.id})
        published = await eventually(lambda: accepted_messages(js, report.incident_id))
        assert published[0]["data"]["urgency"] == "urgent"
        incident = (await intake.client.get(f"/api/v1/incidents/{report.incident_id}", headers=CITY_CENTRE)).json()
        assert incident["status"] == "accepted" and "119" in incident["reason"]


async def test_a_hotline_caller_stays_masked_in_what_intake_publishes(start_intake, nats_url):
    async with start_intake() as intake, jetstream(nats_url) as js:
        report = reported(caller=CallerRef(phone_masked="138****1234", name="王先生"))
        await handlers.handle_incident_reported(build_event(INCIDENT_REPORTED, report, source="/t"),
                                                uow=intake.runtime.uow(), locator=None,
                                                reference=intake.app.state.reference)
        published = await eventually(lambda: accepted_messages(js, report.incident_id))
        assert published[0]["data"]["caller"]["phone_masked"] == "138****1234"
