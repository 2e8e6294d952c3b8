"""The grid app integration API: keys and their scope, idempotent creates, photos, rate limits."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

from sqlalchemy import func, select

from services.grid.adapters.orm import GridEvent, Photo
from tests.integration.grid.conftest import COUNTY_A, JPEG, PNG, TOWN_A, TOWN_B, first_grid, inside
from tests.support.apps import jetstream, stream_messages
from tests.support.geo import northern_edge
from tests.support.polling import eventually


def _stored_pngs(root: Path) -> list[bytes]:
    return [p.read_bytes() for p in root.rglob("*.png")]


async def count(runtime, model, *where) -> int:
    async with runtime.sessions() as s:
        return (await s.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


async def test_the_same_idempotency_key_twice_gives_one_event_and_the_same_answer(start_grid, nats_url):
    async with start_grid() as grid, jetstream(nats_url) as js:
        headers = await grid.key(TOWN_A)
        first = await grid.report(headers, key="phone-retry-1")
        again = await grid.report(headers, key="phone-retry-1")
        assert first.status_code == again.status_code == 201, first.text
        assert first.json() == again.json()
        assert (first.headers["Idempotent-Replayed"], again.headers["Idempotent-Replayed"]) == ("false", "true")
        assert await count(grid.runtime, GridEvent) == 1

        event = first.json()
        grid_a = first_grid(TOWN_A)
        assert (event["state"], event["grid_code"], event["town_code"]) == ("reported", grid_a.code, TOWN_A)
        reported = await eventually(lambda: stream_messages(js, "MCC_INTAKE", "mcc.intake.reported"))
        assert [json.loads(m.data)["data"]["source_ref"] for m in reported] == [event["id"]]
        assert json.loads(reported[0].data)["data"]["channel"] == "grid"

        reused = await grid.report(headers, key="phone-retry-1", description="另一件事")
        assert reused.status_code == 422 and reused.json()["detail"][0]["field"] == "Idempotency-Key"
        missing = await grid.client.post("/api/v1/events", json={}, headers=headers)
        assert missing.status_code == 422
        assert missing.json()["detail"][0] == {"field": "Idempotency-Key", "in": "header", "type": "missing",
                                               "message": missing.json()["detail"][0]["message"]}


async def test_a_key_scoped_to_town_a_reporting_into_town_b_gets_403(start_grid):
    async with start_grid() as grid:
        town_a = await grid.key(TOWN_A)
        refused = await grid.report(town_a, town=TOWN_B)
        assert refused.status_code == 403 and TOWN_A in refused.json()["detail"]
        assert (await grid.report(town_a, town=TOWN_A)).status_code == 201
        county = await grid.key(COUNTY_A)
        assert (await grid.report(county, town=TOWN_B)).status_code == 201
        other_county = await grid.report(county, town="320612101")
        assert other_county.status_code == 403
        assert await count(grid.runtime, GridEvent) == 2

        # A key does not read what lies outside its scope either.
        event_a = (await grid.report(town_a)).json()
        town_b = await grid.key(TOWN_B)
        assert (await grid.client.get(f"/api/v1/events/{event_a['id']}", headers=town_b)).status_code == 404
        assert (await grid.client.get(f"/api/v1/events/{event_a['id']}", headers=town_a)).status_code == 200


async def test_an_oversize_or_wrong_type_photo_is_refused_with_a_clear_error(start_grid, tmp_path):
    async with start_grid(photo_max_bytes=1000) as grid:
        headers = {**await grid.key(TOWN_A), "Idempotency-Key": "p1"}
        big = await grid.client.post("/api/v1/photos", files={"file": ("big.jpg", JPEG + b"\0" * 2000, "image/jpeg")},
                                     headers=headers)
        assert big.status_code == 413
        assert big.json()["detail"][0]["field"] == "file" and "1000 字节" in big.json()["detail"][0]["message"]

        # A text file named .jpg and declared image/jpeg is judged by its content.
        fake = await grid.client.post("/api/v1/photos", files={"file": ("x.jpg", b"GIF89a not allowed", "image/jpeg")},
                                      headers={**headers, "Idempotency-Key": "p2"})
        assert fake.status_code == 415
        assert fake.json()["detail"][0]["field"] == "file" and "JPEG、PNG 或 WebP" in fake.json()["detail"][0]["message"]
        none = await grid.client.post("/api/v1/photos", headers={**headers, "Idempotency-Key": "p3"})
        assert none.status_code == 422 and none.json()["detail"][0]["field"] == "file"
        assert await count(grid.runtime, Photo) == 0

        photo_id = await grid.photo(headers, PNG)
        assert await grid.photo(headers, PNG) == photo_id  # content-addressed: a retry is the same photo
        assert _stored_pngs(tmp_path / "photos") == [PNG]
        read = await grid.client.get(f"/api/v1/photos/{photo_id}", headers=headers)
        assert read.status_code == 200 and read.content == PNG and read.headers["content-type"] == "image/png"

        with_photo = await grid.report(headers, photo_ids=[photo_id])
        assert with_photo.status_code == 201 and with_photo.json()["photo_ids"] == [photo_id]
        unknown = await grid.report(headers, photo_ids=["0" * 64])
        assert unknown.status_code == 422 and unknown.json()["detail"][0]["field"] == "photo_ids[0]"


async def test_a_missing_or_revoked_key_gets_401_and_an_unknown_category_422(start_grid):
    async with start_grid() as grid:
        assert (await grid.report({})).status_code == 401
        assert (await grid.report({"X-Api-Key": "mcc_000000000000_" + "a" * 32})).status_code == 401
        headers = await grid.key(TOWN_A)
        bad = await grid.report(headers, category_code="9999")
        assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "category_code"

        keys = (await grid.client.get("/api/v1/admin/api-keys", headers=grid.admin)).json()
        assert [k["scope_unit"] for k in keys] == [TOWN_A] and "key" not in keys[0]
        assert (await grid.client.get("/api/v1/admin/api-keys", headers=grid.staff)).status_code == 403
        assert (await grid.client.delete(f"/api/v1/admin/api-keys/{keys[0]['id']}", headers=grid.admin)).status_code == 204
        assert (await grid.report(headers)).status_code == 401
        unknown_scope = await grid.client.post("/api/v1/admin/api-keys", json={"name": "x", "scope_unit": "999999"},
                                               headers=grid.admin)
        assert unknown_scope.status_code == 422 and unknown_scope.json()["detail"][0]["field"] == "scope_unit"


async def test_wrong_grid_keys_count_as_failed_authentication_and_a_missing_key_does_not(start_grid):
    async with start_grid(auth_failures_per_minute=2) as grid:
        headers = await grid.key(TOWN_A)
        missing = [(await grid.report({})).status_code for _ in range(3)]
        assert missing == [401, 401, 401]
        refusal = (await grid.report({})).json()["detail"][0]
        assert (refusal["field"], refusal["in"], refusal["type"]) == ("X-Api-Key", "header", "unauthorized")
        wrong = {"X-Api-Key": "mcc_000000000000_" + "a" * 32}
        assert [(await grid.report(wrong)).status_code for _ in range(3)] == [401, 401, 429]
        blocked = await grid.report(headers)  # the address is blocked, good key or not
        assert blocked.status_code == 429 and "Retry-After" in blocked.headers


async def test_a_key_past_its_rate_limit_gets_429_with_retry_after(start_grid):
    async with start_grid(rate_limit_per_minute=3) as grid:
        headers = await grid.key(TOWN_A)
        other = await grid.key(TOWN_A)
        answers = [await grid.report(headers) for _ in range(4)]
        assert [a.status_code for a in answers] == [201, 201, 201, 429]
        assert 0 < int(answers[-1].headers["Retry-After"]) <= 60
        assert (await grid.report(other)).status_code == 201  # the limit is per key


async def test_lookup_answers_inside_on_a_shared_boundary_and_outside_every_grid(start_grid):
    async with start_grid() as grid:
        a = first_grid(TOWN_A)
        inside_a = (await grid.client.get("/api/v1/lookup", params=inside(a))).json()
        assert (inside_a["grid_code"], inside_a["village_code"], inside_a["town_code"], inside_a["flagged"]) == (
            a.code, a.village_code, TOWN_A, False)
        # a's top edge is its northern neighbour's bottom edge: the lower code wins, every time.
        edge, lower = northern_edge(a)
        answers = {(await grid.client.get("/api/v1/lookup", params=edge)).json()["grid_code"] for _ in range(3)}
        assert answers == {lower}
        # in the Yangtze, 2.5 km off 狼山 (崇川区)
        outside = (await grid.client.get("/api/v1/lookup", params={"lon": 120.87, "lat": 31.90})).json()
        assert outside["grid_code"] is None and outside["flagged"] and outside["located_by"] == "nearest_town"
        assert outside["town_code"].startswith("320613") and 1000 < outside["distance_m"] < 5000
        bad = await grid.client.get("/api/v1/lookup", params={"lon": 500, "lat": 32})
        assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "lon"


async def test_an_event_outside_every_grid_goes_to_the_nearest_town_flagged(start_grid):
    async with start_grid() as grid:
        headers = await grid.key(COUNTY_A)
        answer = await grid.client.post("/api/v1/events", headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                                        json={"category_code": "0301", "description": "城外河道", "reporter_id": "gw",
                                              "lon": 120.87, "lat": 31.90})
        assert answer.status_code == 201, answer.text
        event = answer.json()
        assert event["grid_code"] is None and event["flagged"] and event["town_code"].startswith(COUNTY_A)


async def test_concurrent_reports_share_transactions_but_each_key_still_makes_one_event(start_grid):
    async with start_grid() as grid:
        headers = await grid.key(TOWN_A)
        same = [grid.report(headers, key="retry-storm") for _ in range(8)]
        distinct = [grid.report(headers, key=f"k-{n}") for n in range(8)]
        reused = [grid.report(headers, key="k-0", description="不同的内容")]
        answers = await asyncio.gather(*same, *distinct, *reused)
        assert [a.status_code for a in answers[:8] + answers[9:16]] == [201] * 15
        # Whichever of the two uses of k-0 came first made the event; the other is told of the conflict.
        assert sorted([answers[8].status_code, answers[16].status_code]) == [201, 422]
        assert len({a.json()["id"] for a in answers[:8]}) == 1
        assert sum(a.headers["Idempotent-Replayed"] == "false" for a in answers[:8]) == 1
        created = [a.json() for a in answers[7:] if a.status_code == 201]
        assert len({e["id"] for e in created}) == 9
        assert await count(grid.runtime, GridEvent) == 9
        assert len({e["change_seq"] for e in created}) == 9  # every event its own place in the change sequence
