"""Machine detections: an integration key and an Idempotency-Key; confident ones are dispatched, doubtful ones
wait for the city or county dispatcher to approve or reject them."""

from __future__ import annotations

import json
import uuid

import pytest
from prometheus_client import REGISTRY

from shared.events.catalog import INCIDENT_ACCEPTED, INCIDENT_HELD
from tests.support.apps import jetstream, stream_messages
from tests.support.dispatch import CITY_CENTRE
from tests.support.geo import first_grid_point
from tests.support.polling import eventually


def detection(**overrides):
    body = {"detector": "satellite-rs", "source": "遥感", "confidence": 0.93,
            "evidence_url": "https://rs.example.cn/scenes/2026-11-22/tile-88.png", "category_code": "020102",
            "coordinates": first_grid_point(), "description": "疑似建筑垃圾堆放约 200 平方米"}
    body.update(overrides)
    return body


def headers(key: str, idem: str | None = None) -> dict[str, str]:
    return {"X-Api-Key": key, "Idempotency-Key": idem or uuid.uuid4().hex}


def detections(outcome: str) -> float:
    return REGISTRY.get_sample_value("mcc_detections_total", {"outcome": outcome}) or 0


async def on_subject(js, subject: str, incident_id: str) -> list[dict]:
    bodies = [json.loads(m.data) for m in await stream_messages(js, "MCC_INCIDENTS", subject)]
    return [b for b in bodies if b["data"]["incident_id"] == incident_id]


async def incident(intake, incident_id: str, status: str):
    response = await intake.client.get(f"/api/v1/incidents/{incident_id}", headers=CITY_CENTRE)
    return response.json() if response.status_code == 200 and response.json()["status"] == status else None


async def test_a_confident_detection_is_accepted_and_published_for_dispatch(start_intake, nats_url):
    async with start_intake() as intake, jetstream(nats_url) as js:
        _, key = await intake.issue_key("遥感监测平台")
        before = detections("dispatched")
        answer = await intake.client.post("/api/v1/detections", json=detection(), headers=headers(key))
        assert answer.status_code == 202 and answer.json()["route"] == "dispatch"
        incident_id = answer.json()["incident_id"]
        published = await eventually(lambda: on_subject(js, INCIDENT_ACCEPTED.wildcard, incident_id))
        data = published[0]["data"]
        assert data["channel"] == "detection" and data["detection"]["confidence"] == 0.93
        assert data["detection"]["evidence_url"].startswith("https://rs.example.cn")
        assert data["location"]["town_code"] == "320613101"
        assert detections("dispatched") == before + 1


async def test_a_doubtful_detection_waits_for_review_then_is_approved_or_rejected(start_intake, nats_url):
    async with start_intake(detection_min_confidence=0.7) as intake, jetstream(nats_url) as js:
        _, key = await intake.issue_key()
        first = await intake.client.post("/api/v1/detections", json=detection(confidence=0.41), headers=headers(key))
        second = await intake.client.post("/api/v1/detections", json=detection(confidence=0.5, detection_id="d-2"),
                                          headers=headers(key))
        assert first.json()["route"] == "review" and first.json()["threshold"] == 0.7
        held_id, other_id = first.json()["incident_id"], second.json()["incident_id"]
        await eventually(lambda: incident(intake, held_id, "held"))
        await eventually(lambda: incident(intake, other_id, "held"))
        held_event = await eventually(lambda: on_subject(js, INCIDENT_HELD.wildcard, held_id))
        assert "0.41" in held_event[0]["data"]["reason"]

        queue = await intake.client.get("/api/v1/incidents", headers=intake.county)
        assert {i["id"] for i in queue.json()} == {held_id, other_id}
        assert (await intake.client.get("/api/v1/incidents", headers=intake.other_county)).json() == []
        refused = await intake.client.post(f"/api/v1/incidents/{held_id}/approve", headers=intake.other_county)
        assert refused.status_code == 404  # another county's incident answers as one that does not exist

        approved = await intake.client.post(f"/api/v1/incidents/{held_id}/approve", headers=intake.county)
        assert approved.status_code == 200 and approved.json()["status"] == "accepted"
        assert approved.json()["reviewed_by"] == "county-1"
        published = await eventually(lambda: on_subject(js, INCIDENT_ACCEPTED.wildcard, held_id))
        assert published[0]["data"]["location"]["grid_code"] == "320613101001001"
        again = await intake.client.post(f"/api/v1/incidents/{held_id}/approve", headers=intake.city)
        assert again.status_code == 409

        rejected = await intake.client.post(f"/api/v1/incidents/{other_id}/reject", json={"reason": "云层阴影误识别"},
                                            headers=intake.city)
        assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
        assert "云层阴影" in rejected.json()["reason"]
        assert (await intake.client.get("/api/v1/incidents", headers=intake.city)).json() == []
        assert await on_subject(js, INCIDENT_ACCEPTED.wildcard, other_id) == []


async def test_the_same_idempotency_key_twice_gives_one_incident_and_the_same_answer(start_intake, nats_url):
    async with start_intake() as intake, jetstream(nats_url) as js:
        _, key = await intake.issue_key()
        sent = headers(key, "scene-88-run-1")
        first = await intake.client.post("/api/v1/detections", json=detection(), headers=sent)
        second = await intake.client.post("/api/v1/detections", json=detection(), headers=sent)
        assert first.json() == second.json() and second.headers.get("Idempotent-Replayed") == "true"
        reused = await intake.client.post("/api/v1/detections", json=detection(confidence=0.99), headers=sent)
        assert reused.status_code == 422 and reused.json()["detail"][0]["field"] == "Idempotency-Key"
        await eventually(lambda: incident(intake, first.json()["incident_id"], "accepted"))
        reported = await stream_messages(js, "MCC_INTAKE")
        assert len(reported) == 1 and await intake.count("incident") == 1


async def test_without_a_valid_key_a_detection_is_refused(start_intake):
    async with start_intake() as intake:
        key_id, key = await intake.issue_key()
        missing = await intake.client.post("/api/v1/detections", json=detection(),
                                           headers={"Idempotency-Key": "k1"})
        wrong = await intake.client.post("/api/v1/detections", json=detection(), headers=headers(key[:-2] + "zz"))
        await intake.revoke(key_id)
        revoked = await intake.client.post("/api/v1/detections", json=detection(), headers=headers(key))
        assert [r.status_code for r in (missing, wrong, revoked)] == [401, 401, 401]
        assert missing.json()["detail"][0]["field"] == "X-Api-Key"
        _, fresh = await intake.issue_key("另一个检测平台")
        no_idempotency = await intake.client.post("/api/v1/detections", json=detection(),
                                                  headers={"X-Api-Key": fresh})
        assert no_idempotency.status_code == 422
        assert no_idempotency.json()["detail"][0]["field"] == "Idempotency-Key"
        assert await intake.count("idempotency_key") == 0


async def test_a_key_scoped_to_one_county_cannot_report_a_grid_in_another(start_intake):
    async with start_intake() as intake:
        _, key = await intake.issue_key(scope="320613")
        answer = await intake.client.post("/api/v1/detections", json=detection(grid_code="320681101001001",
                                                                              coordinates=None),
                                          headers=headers(key))
        assert answer.status_code == 403 and answer.json()["detail"][0]["field"] == "grid_code"


MALFORMED = [
    pytest.param({"confidence": None}, "confidence", id="missing-confidence"),
    pytest.param({"confidence": "0.9"}, "confidence", id="confidence-as-text"),
    pytest.param({"confidence": 1.5}, "confidence", id="confidence-over-1"),
    pytest.param({"coordinates": {"lon": 200, "lat": 31}}, "coordinates.lon", id="lon-out-of-range"),
    pytest.param({"coordinates": {"lon": 120.2, "lat": -91}}, "coordinates.lat", id="lat-out-of-range"),
    pytest.param({"category_code": "999999"}, "category_code", id="unknown-category"),
    pytest.param({"category_code": "路灯"}, "category_code", id="category-not-a-code"),
    pytest.param({"evidence_url": "javascript:alert(1)"}, "evidence_url", id="evidence-not-http"),
    pytest.param({"coordinates": None}, "location", id="nowhere"),
    pytest.param({"description": "长" * 2001}, "description", id="long-description"),
    pytest.param({"surprise": 1}, "surprise", id="unknown-field"),
    pytest.param({"detected_at": "2026-11-22T10:00:00"}, "detected_at", id="naive-datetime"),
]


@pytest.mark.parametrize(("change", "field"), MALFORMED)
async def test_a_malformed_detection_names_the_bad_field_and_writes_nothing(start_intake, change, field):
    async with start_intake() as intake:
        _, key = await intake.issue_key()
        body = {k: v for k, v in detection(**change).items() if not (v is None and k == "confidence")}
        answer = await intake.client.post("/api/v1/detections", json=body, headers=headers(key))
        assert answer.status_code == 422, answer.text
        assert field in [e["field"] for e in answer.json()["detail"]]
        assert await intake.count("idempotency_key") == 0 and await intake.count("outbox") == 0


async def test_bytes_that_are_not_json_or_not_utf8_are_a_4xx(start_intake):
    async with start_intake() as intake:
        _, key = await intake.issue_key()
        for content, content_type in ((b'{"detector": "\xff\xfe"}', "application/json"),
                                      (b"detector=x", "application/x-www-form-urlencoded"),
                                      (b"{not json", "application/json"),
                                      (json.dumps(detection()).encode(), "text/plain")):
            answer = await intake.client.post("/api/v1/detections", content=content,
                                              headers={**headers(key), "Content-Type": content_type})
            assert 400 <= answer.status_code < 500, (content, answer.status_code, answer.text)
        big = await intake.client.post("/api/v1/detections", content=b"x" * 5_000_001,
                                       headers={**headers(key), "Content-Type": "application/json"})
        assert big.status_code == 413
        assert await intake.count("idempotency_key") == 0 and await intake.count("outbox") == 0
