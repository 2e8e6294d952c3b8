"""A point outside the city is not dispatched to the nearest town's guess: it waits in the review queue with the
reason, while a point just off the shore still goes to the nearest town."""

from __future__ import annotations

import json
import uuid

import pytest

from services.intake.service.registry import RegistryProjection
from shared.democity import grids
from shared.events.catalog import INCIDENT_ACCEPTED, INCIDENT_HELD, INCIDENT_REPORTED
from shared.events.envelope import utcnow
from shared.events.v1 import Channel, Coordinates, IncidentReported, Location
from shared.gridindex import GridIndex
from shared.outbox import build_event
from shared.snapshots import Fixed
from tests.support.apps import jetstream, stream_messages
from tests.support.polling import eventually

pytestmark = pytest.mark.integration

NANJING = (118.7969, 32.0603)  # 新街口, about 137 km from the nearest grid
NOWHERE = (0.0, 0.0)  # a phone without a fix
OFF_LANGSHAN = (120.87, 31.90)  # in the Yangtze, 2.5 km off 狼山: the nearest town is right


@pytest.fixture(scope="module")
def demo_registry() -> RegistryProjection:
    """Intake's own in-process lookup over the demo city's registry (as copied from grid)."""
    return RegistryProjection(Fixed(GridIndex.build(grids())))


def report_at(lon: float, lat: float) -> IncidentReported:
    ref = uuid.uuid4().hex[:16]
    return IncidentReported(incident_id=f"inc-{ref}", channel=Channel.HOTLINE, source_ref=ref,
                            category_code="010201", description="路灯不亮已经一周",
                            location=Location(coordinates=Coordinates(lon=lon, lat=lat)), reported_at=utcnow())


async def test_points_outside_the_city_wait_for_review_with_the_reason_and_are_not_dispatched(
        start_intake, demo_registry, nats_url):
    async with start_intake(locator=demo_registry) as intake, jetstream(nats_url) as js:
        reports = {name: report_at(*point) for name, point in
                   (("nanjing", NANJING), ("nowhere", NOWHERE), ("shore", OFF_LANGSHAN))}
        # A grid app's event in Nanjing: grid placed it in its nearest town, flagged, without a grid.
        guess = demo_registry.locate(*NANJING)
        reports["grid_app"] = report_at(*NANJING).model_copy(update={
            "channel": Channel.GRID, "location": Location(coordinates=Coordinates(lon=NANJING[0], lat=NANJING[1]),
                                                          town_code=guess.town_code, county_code=guess.county_code)})
        for report in reports.values():
            event = build_event(INCIDENT_REPORTED, report, source="/test")
            await js.publish(INCIDENT_REPORTED.subject, event.to_json(), headers={"Nats-Msg-Id": event.id})

        async def recorded(report: IncidentReported) -> dict | None:
            answer = await intake.client.get(f"/api/v1/incidents/{report.incident_id}", headers=intake.city)
            return answer.json() if answer.status_code == 200 else None

        nanjing = await eventually(lambda: recorded(reports["nanjing"]))
        nowhere = await eventually(lambda: recorded(reports["nowhere"]))
        shore = await eventually(lambda: recorded(reports["shore"]))
        grid_app = await eventually(lambda: recorded(reports["grid_app"]))
        assert (nanjing["status"], nowhere["status"], grid_app["status"]) == ("held", "held", "held")
        assert "市域外" in nanjing["reason"] and "13" in nanjing["reason"]  # 137.4 公里
        assert (shore["status"], shore["town_code"], shore["located_by"]) == ("accepted", "320613107", "nearest_town")

        queue = (await intake.client.get("/api/v1/incidents", headers=intake.city)).json()
        assert {reports["nanjing"].incident_id, reports["nowhere"].incident_id} <= {i["id"] for i in queue}
        held = await eventually(lambda: published(js, INCIDENT_HELD.wildcard, reports["nowhere"].incident_id))
        assert reports["nanjing"].incident_id in held and held[reports["nowhere"].incident_id]["detection"] is None
        accepted = await eventually(lambda: published(js, INCIDENT_ACCEPTED.wildcard, reports["shore"].incident_id))
        assert reports["nanjing"].incident_id not in accepted and reports["nowhere"].incident_id not in accepted

        # A person may still decide it is the city's: approving dispatches it to the nearest town's guess.
        approved = await intake.client.post(f"/api/v1/incidents/{reports['nanjing'].incident_id}/approve",
                                            headers=intake.city)
        assert approved.status_code == 200 and approved.json()["status"] == "accepted"
        rejected = await intake.client.post(f"/api/v1/incidents/{reports['nowhere'].incident_id}/reject",
                                            headers=intake.city, json={"reason": "无有效位置"})
        assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"


async def published(js, subject: str, wanted: str) -> dict[str, dict] | None:  # noqa: ANN001
    """Incident id → event data of what is on `subject`, once `wanted` is there."""
    bodies = [json.loads(m.data)["data"] for m in await stream_messages(js, "MCC_INCIDENTS", subject)]
    found = {b["incident_id"]: b for b in bodies}
    return found if wanted in found else None
