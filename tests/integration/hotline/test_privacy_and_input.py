"""Callers stay private on NATS; a retried create makes one appeal; bad input is a 4xx that writes nothing."""

from __future__ import annotations

import json

import pytest

from .support import APPEAL, POINT, hotline

PHONE = "13812341234"


async def _all_published(h) -> list[str]:
    """Every message body on every stream the hotline publishes to."""
    from tests.support.apps import stream_messages

    bodies = []
    for stream in ("MCC_INTAKE", "MCC_HOTLINE"):
        bodies += [m.data.decode() for m in await stream_messages(h.js, stream)]
    return bodies


@pytest.mark.parametrize("body", [
    {"appeal_type": "举报", "caller_name": "王某", "description": f"举报某饭店偷排污水，我电话{PHONE}"},
    {"appeal_type": "complaint", "confidential": True, "caller_name": "李某", "description": "投诉本村村干部"},
    {"appeal_type": "help", "anonymous": True, "description": "门口路灯坏了"},
])
async def test_a_report_or_a_protected_appeal_puts_no_caller_identity_on_nats(db, nats_url, redis_url, body):
    async with hotline(db, nats_url, redis_url, seed_knowledge=False) as h:
        answer = await h.create(body, coordinates=POINT)
        assert answer["caller_phone"] == PHONE  # the operator still has it
        [reported] = await h.reported(1)
        await h.disposed(1)
        data = reported["data"]
        assert data.get("caller") is None
        assert data["confidential"] is bool(body.get("confidential"))
        bodies = await _all_published(h)
        assert len(bodies) == 2
        for text in bodies:
            assert PHONE not in text and "138****1234" not in text  # not even masked
            assert "王某" not in text and "李某" not in text
            assert "caller_phone" not in text


async def test_an_ordinary_appeal_leaves_the_hotline_with_the_masked_number_only(db, nats_url, redis_url):
    async with hotline(db, nats_url, redis_url, seed_knowledge=False) as h:
        answer = await h.create(caller_name="张先生", description="回电请打0513 85123456，路灯不亮",
                                caller_phone="0513-85123456")
        await h.create(description=f"回电请打{PHONE}")
        [first, second] = [m["data"] for m in await h.reported(2)]
        assert first["caller"] == {"phone_masked": "0513****3456", "name": "张先生"}
        assert second["caller"]["phone_masked"] == "138****1234"
        assert "138****1234" in second["description"]  # the caller's own number read into the text is masked
        for text in await _all_published(h):
            assert PHONE not in text and "85123456" not in text, text
        shown = await h.appeal(answer["id"])
        assert shown["caller_phone_masked"] == "0513****3456"


async def test_the_same_idempotency_key_twice_gives_the_first_answer_one_appeal_and_one_event(
        db, nats_url, redis_url):
    async with hotline(db, nats_url, redis_url, seed_knowledge=False) as h:
        headers = {**h.headers, "Idempotency-Key": "call-2026-11-23-0001"}
        first = await h.client.post("/api/v1/appeals", json=APPEAL, headers=headers)
        again = await h.client.post("/api/v1/appeals", json=APPEAL, headers=headers)
        assert (first.status_code, again.status_code) == (201, 201)
        assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"

        other = await h.client.post("/api/v1/appeals", json={**APPEAL, "description": "另一件事"}, headers=headers)
        assert other.status_code == 422
        assert other.json()["detail"][0] == {**other.json()["detail"][0], "field": "Idempotency-Key",
                                             "in": "header"}
        bad = await h.client.post("/api/v1/appeals", json=APPEAL, headers={**h.headers, "Idempotency-Key": "a b"})
        assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "Idempotency-Key"

        marker = await h.create(description="之后的另一个诉求")  # the outbox publishes in commit order
        reported = await h.reported(2)
        assert [m["data"]["source_ref"] for m in reported] == [first.json()["number"], marker["number"]]
        assert len(await h.disposed(2)) == 2
        assert await h.count("appeal") == 2 and await h.count("idempotency_key") == 1


MALFORMED = [
    pytest.param({"json": {"appeal_type": "complaint"}}, 422, {"category_code", "description"}, id="missing"),
    pytest.param({"json": {**APPEAL, "confidential": "maybe", "coordinates": "here"}}, 422,
                 {"confidential", "coordinates"}, id="wrong-types"),
    pytest.param({"json": {**APPEAL, "description": "很" * 5_000_000}}, 413, {"body"}, id="5MB-description"),
    pytest.param({"json": {**APPEAL, "description": "长" * 10_001}}, 422, {"description"}, id="long-description"),
    pytest.param({"json": {**APPEAL, "coordinates": {"lon": 200, "lat": -95}}}, 422,
                 {"coordinates.lon", "coordinates.lat"}, id="coordinates-out-of-range"),
    pytest.param({"json": {**APPEAL, "category_code": "990099"}}, 422, {"category_code"}, id="unknown-category"),
    pytest.param({"json": {**APPEAL, "appeal_type": "抱怨"}}, 422, {"appeal_type"}, id="unknown-appeal-type"),
    pytest.param({"json": {**APPEAL, "urgency": "whenever"}}, 422, {"urgency"}, id="unknown-urgency"),
    pytest.param({"json": {**APPEAL, "description": " \u3000 "}}, 422, {"description"}, id="blank-description"),
    pytest.param({"json": {**APPEAL, "anonymous": True, "caller_name": "张三"}}, 422, {"caller_name"},
                 id="anonymous-with-name"),
    pytest.param({"json": {**APPEAL, "scope": {"kind": "emergency"}}}, 422, {"scope"}, id="emergency-no-line"),
    pytest.param({"json": {**APPEAL, "surprise": 1}}, 422, {"surprise"}, id="unknown-field"),
    pytest.param({"content": b'{"caller_phone": "13812341234", "description": "\xff\xfe"}',
                  "headers": {"content-type": "application/json"}}, 400, {"body"}, id="invalid-utf8"),
    pytest.param({"content": b"{not json", "headers": {"content-type": "application/json"}}, 422, {"body"},
                 id="invalid-json"),
    pytest.param({"content": json.dumps(APPEAL).encode(), "headers": {"content-type": "text/plain"}}, 415,
                 {"content-type"}, id="wrong-content-type"),
    pytest.param({"data": {"caller_phone": PHONE}}, 415, {"content-type"}, id="form-encoded"),
    pytest.param({"json": [APPEAL]}, 422, {"body"}, id="a-list"),
    # PostgreSQL cannot store U+0000 in text: refused by name on both databases instead of a 500 on one.
    pytest.param({"json": {**APPEAL, "description": "夜里施工\x00"}}, 422, {"description"}, id="nul-character"),
]


@pytest.mark.parametrize(("request_kwargs", "status", "fields"), MALFORMED)
async def test_malformed_input_is_a_field_level_4xx_and_writes_nothing(db, nats_url, redis_url, request_kwargs,
                                                                       status, fields):
    async with hotline(db, nats_url, redis_url, seed_knowledge=False) as h:
        kwargs = dict(request_kwargs)  # the params are shared by the database matrix: never mutate them
        headers = {**h.headers, **kwargs.pop("headers", {}), "Idempotency-Key": "k-1"}
        response = await h.client.post("/api/v1/appeals", headers=headers, **kwargs)
        assert response.status_code == status, response.text
        detail = response.json()["detail"]
        assert fields <= {e["field"] for e in detail}, detail
        assert all(e["message"] for e in detail)
        for table in ("appeal", "outbox", "idempotency_key", "followup_call"):
            assert await h.count(table) == 0, table


async def test_concurrent_retries_with_one_idempotency_key_make_one_appeal(db, nats_url, redis_url):
    import asyncio

    async with hotline(db, nats_url, redis_url, seed_knowledge=False) as h:
        headers = {**h.headers, "Idempotency-Key": "retry-storm"}
        answers = await asyncio.gather(*(h.client.post("/api/v1/appeals", json=APPEAL, headers=headers)
                                         for _ in range(5)))
        assert {a.status_code for a in answers} == {201}
        assert len({a.json()["number"] for a in answers}) == 1
        assert await h.count("appeal") == 1 and await h.count("idempotency_key") == 1
