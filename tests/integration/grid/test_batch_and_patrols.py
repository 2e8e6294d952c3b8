"""Batch sync from an app that was offline, and patrol check-ins with their coverage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from services.grid.adapters.orm import GridEvent
from shared.democity import grids
from tests.integration.grid.conftest import TOWN_A, TOWN_B, first_grid, inside


def item(n: str, town: str = TOWN_A, **fields):
    return {"id": n, "category_code": "0301", "description": f"离线上报 {n}", "reporter_id": "gw-7",
            **inside(first_grid(town)), **fields}


async def test_a_batch_gives_each_item_its_own_result_and_is_idempotent_as_a_whole(start_grid):
    async with start_grid() as grid:
        headers = await grid.key(TOWN_A)
        items = [item("a1"), item("a2", category_code="9999"), item("a3", town=TOWN_B),
                 {k: v for k, v in item("a4").items() if k != "description"}, item("a1")]
        first = await grid.client.post("/api/v1/events/batch", json={"items": items},
                                       headers={**headers, "Idempotency-Key": "batch-1"})
        assert first.status_code == 200, first.text
        results = first.json()["results"]
        assert [r["status"] for r in results] == [201, 422, 403, 422, 200]
        assert results[1]["detail"][0]["field"] == "items[1].category_code"
        assert results[3]["detail"][0]["field"] == "items[3].description"
        assert results[4]["event"]["id"] == results[0]["event"]["id"]  # the same item id is one event
        assert (first.json()["created"], first.json()["failed"]) == (1, 3)

        again = await grid.client.post("/api/v1/events/batch", json={"items": items},
                                       headers={**headers, "Idempotency-Key": "batch-1"})
        assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
        # The app retries the item alone under a new batch key: the item id still makes it one event.
        later = await grid.client.post("/api/v1/events/batch", json={"items": [item("a1"), item("b1")]},
                                       headers={**headers, "Idempotency-Key": "batch-2"})
        assert [r["status"] for r in later.json()["results"]] == [200, 201]
        async with grid.runtime.sessions() as s:
            assert (await s.execute(select(func.count()).select_from(GridEvent))).scalar_one() == 2

        too_many = await grid.client.post("/api/v1/events/batch", json={"items": []},
                                          headers={**headers, "Idempotency-Key": "batch-3"})
        assert too_many.status_code == 422


async def test_patrol_check_ins_give_who_patrolled_which_grid_for_how_long(start_grid):
    async with start_grid() as grid:
        headers = await grid.key(TOWN_A)
        code = first_grid(TOWN_A).code
        day = datetime(2026, 11, 20, tzinfo=UTC)
        for n, (start, hours) in enumerate(((day + timedelta(hours=1), 1.5), (day + timedelta(hours=6), 1))):
            began = await grid.client.post("/api/v1/patrols", json={
                "worker_id": "gw-7", "grid_code": code, "started_at": start.isoformat()},
                headers={**headers, "Idempotency-Key": f"patrol-{n}"})
            assert began.status_code == 201, began.text
            patrol = began.json()["id"]
            track = await grid.client.post(f"/api/v1/patrols/{patrol}/points", headers=headers, json={"points": [
                {**inside(first_grid(TOWN_A)), "at": (start + timedelta(minutes=m)).isoformat()} for m in (5, 10)]})
            assert track.status_code == 200 and track.json()["points"] == 2
            ended = await grid.client.post(f"/api/v1/patrols/{patrol}/end", headers=headers,
                                           json={"ended_at": (start + timedelta(hours=hours)).isoformat()})
            assert ended.status_code == 200
        late = await grid.client.post(f"/api/v1/patrols/{patrol}/points", headers=headers, json={"points": [
            {**inside(first_grid(TOWN_A)), "at": day.isoformat()}]})
        assert late.status_code == 409
        outside = await grid.client.post("/api/v1/patrols", json={
            "worker_id": "gw-7", "grid_code": first_grid(TOWN_B).code}, headers={**headers, "Idempotency-Key": "x"})
        assert outside.status_code == 403

        covered = await grid.client.get("/api/v1/patrols/coverage", headers=grid.staff, params={
            "from": day.isoformat(), "to": (day + timedelta(days=1)).isoformat(), "town_code": TOWN_A})
        assert covered.status_code == 200
        rows = covered.json()
        assert rows[0] == {"worker_id": "gw-7", "grid_code": code, "patrols": 2, "seconds": 9000,
                           "hours": 2.5, "days": 1, "target_hours": 2.0, "met": True}
        # Then every other grid of the town, which nobody patrolled that day.
        others = sorted(g.code for g in grids() if g.town_code == TOWN_A and g.code != code)
        assert others and [r["grid_code"] for r in rows[1:]] == others
        assert all(r["worker_id"] is None and r["seconds"] == 0 and not r["met"] for r in rows[1:])
        naive = await grid.client.get("/api/v1/patrols/coverage", headers=grid.staff,
                                      params={"from": "2026-11-20T00:00:00", "to": "2026-11-21T00:00:00"})
        assert naive.status_code == 422
