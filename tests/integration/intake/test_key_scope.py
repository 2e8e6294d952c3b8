"""An intake key scoped to a county or town writes only inside it: coordinates and addresses are placed at the
door as the consumer will place them, for detections and Open311 requests alike; nothing is written when the
place lies elsewhere."""

from __future__ import annotations

import uuid

from shared.retry import TransientError
from tests.integration.intake.conftest import GRID
from tests.integration.intake.test_open311 import form, post
from tests.support.polling import eventually

TONGZHOU = "320612"  # another county than where the fake grid places every point (崇川区 320613)


def detection(**overrides) -> dict:
    body = {"detector": "satellite-rs", "confidence": 0.95, "evidence_url": "https://rs.example.cn/t.png",
            "category_code": "020102", "coordinates": {"lon": 120.21, "lat": 31.71}}
    return {**body, **overrides}


async def detect(intake, key: str, body: dict):
    return await intake.client.post("/api/v1/detections", json=body,
                                    headers={"X-Api-Key": key, "Idempotency-Key": uuid.uuid4().hex})


async def test_a_scoped_key_cannot_report_a_detection_elsewhere_by_coordinates(start_intake):
    async with start_intake() as intake:
        _, elsewhere = await intake.issue_key(scope=TONGZHOU)
        refused = await detect(intake, elsewhere, detection())
        assert refused.status_code == 403 and refused.json()["detail"][0]["field"] == "coordinates"
        in_grid = await detect(intake, elsewhere, detection(grid_code=TONGZHOU + "101001001"))
        assert in_grid.status_code == 403  # a grid code inside does not excuse coordinates outside
        for scope in (GRID.county_code, GRID.town_code, None):
            _, inside = await intake.issue_key(scope=scope)
            assert (await detect(intake, inside, detection())).status_code == 202, scope

        async def written() -> bool:  # each is in the outbox, or published and already recorded by the consumer
            return await intake.count("outbox") + await intake.count("incident") >= 3

        # Polled: between the relay's delete and the consumer's commit an incident is on NATS, in neither table.
        await eventually(written, message="the three detections written")
        assert await intake.count("idempotency_key") == 3


async def test_a_scoped_open311_key_cannot_create_a_request_elsewhere_by_coordinates_or_address(start_intake):
    async with start_intake() as intake:
        _, elsewhere = await intake.issue_key(scope=TONGZHOU)
        by_coordinates = await post(intake, form(elsewhere))
        by_address = await post(intake, form(elsewhere, lat=None, long=None))
        nowhere = await post(intake, form(elsewhere, lat=None, long=None, address_string="某处"))
        for refused in (by_coordinates, by_address, nowhere):
            assert refused.status_code == 403, refused.text
            assert refused.json()[0]["code"] == 403
        assert await intake.count("open311_request") == 0
        _, inside = await intake.issue_key(scope=GRID.county_code)
        assert (await post(intake, form(inside))).status_code == 201
        assert (await post(intake, form(inside, lat=None, long=None))).status_code == 201
        assert await intake.count("open311_request") == 2


class _NoRegistryYet:
    """A locator before intake holds a copy of grid's registry."""

    def locate(self, lon: float, lat: float):
        raise TransientError("no copy of grid's registry yet")


async def test_a_scoped_key_s_detection_waits_with_503_and_retry_after_while_nothing_can_place_it(start_intake):
    async with start_intake(locator=_NoRegistryYet()) as intake:
        _, scoped = await intake.issue_key(scope=GRID.county_code)
        answer = await detect(intake, scoped, detection())
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
        assert answer.json()["code"] == "unavailable" and "稍后重试" in answer.json()["detail"]
        assert await intake.count("idempotency_key") == 0 and await intake.count("outbox") == 0
