"""Intake's incidents are scoped like orders: a dispatcher reads, lists and reviews only what lies in their
area, and another area's incident answers exactly as one that does not exist. Open311 incident ids cannot be
computed from the public request id."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from services.intake.adapters.orm import Open311Request
from services.intake.domain.normalise import incident_id_for
from shared.auth import mint_token
from shared.events.v1 import Channel
from shared.roles import Role
from tests.integration.intake.conftest import GRID
from tests.integration.intake.test_open311 import form, post
from tests.support.polling import eventually

SAME_COUNTY_OTHER_TOWN = "320613102"


def bearer(intake, role: Role, unit: str) -> dict[str, str]:
    secret = intake.runtime.settings.token_secret
    return {"Authorization": "Bearer " + mint_token(secret, subject=f"{role}@{unit}", role=role, unit_code=unit)}


async def held_detection(intake) -> str:
    _, key = await intake.issue_key("遥感监测平台")
    body = {"detector": "satellite-rs", "confidence": 0.4, "evidence_url": "https://rs.example.cn/t.png",
            "category_code": "020102", "coordinates": {"lon": 120.21, "lat": 31.71}}
    answer = await intake.client.post("/api/v1/detections", json=body,
                                      headers={"X-Api-Key": key, "Idempotency-Key": uuid.uuid4().hex})
    assert answer.status_code == 202, answer.text
    incident_id = answer.json()["incident_id"]

    async def held():
        read = await intake.client.get(f"/api/v1/incidents/{incident_id}", headers=intake.city)
        return read.status_code == 200 and read.json()["status"] == "held"

    await eventually(held)
    return incident_id


async def test_an_incident_outside_the_readers_area_is_a_404_like_one_that_does_not_exist(start_intake):
    async with start_intake(detection_min_confidence=0.7) as intake:
        incident_id = await held_detection(intake)
        for inside in (intake.town, intake.county, intake.city):
            assert (await intake.client.get(f"/api/v1/incidents/{incident_id}", headers=inside)).status_code == 200
        missing = await intake.client.get(f"/api/v1/incidents/{uuid.uuid4()}", headers=intake.other_county)
        for outside in (intake.other_county, bearer(intake, Role.TOWN, SAME_COUNTY_OTHER_TOWN),
                        bearer(intake, Role.DEPARTMENT, f"{GRID.county_code}-water")):
            read = await intake.client.get(f"/api/v1/incidents/{incident_id}", headers=outside)
            assert read.status_code == 404 and "020102" not in read.text
            assert read.json().keys() == missing.json().keys()


async def test_reviewing_or_listing_another_countys_incident_answers_as_if_it_did_not_exist(start_intake):
    async with start_intake(detection_min_confidence=0.7) as intake:
        incident_id = await held_detection(intake)
        assert (await intake.client.get("/api/v1/incidents", headers=intake.other_county)).json() == []
        for action, body in (("approve", None), ("reject", {"reason": "误报"})):
            refused = await intake.client.post(f"/api/v1/incidents/{incident_id}/{action}", json=body,
                                               headers=intake.other_county)
            absent = await intake.client.post(f"/api/v1/incidents/{uuid.uuid4()}/{action}", json=body,
                                              headers=intake.other_county)
            assert refused.status_code == absent.status_code == 404
        listed = (await intake.client.get("/api/v1/incidents", headers=intake.county)).json()
        assert [i["id"] for i in listed] == [incident_id]


async def test_a_role_that_does_not_fit_its_unit_is_refused_at_intakes_door(start_intake):
    async with start_intake() as intake:
        for role, unit in ((Role.CITY, GRID.county_code), (Role.COUNTY, GRID.town_code), (Role.TOWN, "320600"),
                           (Role.OPERATOR, GRID.county_code), (Role.CITY, "110000"), (Role.COUNTY, "330102")):
            answer = await intake.client.get("/api/v1/incidents", headers=bearer(intake, role, unit))
            assert answer.status_code == 403, (role, unit, answer.text)


async def test_an_open311_incident_id_cannot_be_computed_from_its_request_id(start_intake):
    async with start_intake() as intake:
        _, key = await intake.issue_key()
        created = await post(intake, form(key))
        request_id = created.json()[0]["service_request_id"]
        async with intake.runtime.uow() as uow:
            row = (await uow.session.execute(select(Open311Request).where(
                Open311Request.service_request_id == request_id))).scalar_one()
        assert row.incident_id != incident_id_for(Channel.OPEN311, request_id)
        guessed = await intake.client.get(f"/api/v1/incidents/{incident_id_for(Channel.OPEN311, request_id)}",
                                          headers=intake.city)
        assert guessed.status_code == 404
