"""Grid's aggregate views and photos are scoped: the event summary and patrol coverage count only the caller's
area (a filter naming another area is refused), and a photo is read only by keys whose scope covers it."""

from __future__ import annotations

import uuid
from datetime import timedelta

from shared.auth import mint_token
from shared.events.envelope import utcnow
from shared.roles import Role
from tests.integration.grid.conftest import COUNTY_A, JPEG, TOWN_A, TOWN_B, first_grid

ELSEWHERE = "320612101"  # a town of 通州区, another county


def bearer(grid, role: Role, unit: str) -> dict[str, str]:
    secret = grid.app.state.settings.token_secret
    return {"Authorization": "Bearer " + mint_token(secret, subject=f"{role}@{unit}", role=role, unit_code=unit)}


async def test_the_event_summary_counts_only_the_callers_area(start_grid):
    async with start_grid() as grid:
        city_key = await grid.key()
        for town in (TOWN_A, TOWN_A, TOWN_B, ELSEWHERE):
            assert (await grid.report(city_key, town=town)).status_code == 201
        expected = {(Role.TOWN, TOWN_A): 2, (Role.TOWN, TOWN_B): 1, (Role.COUNTY, COUNTY_A): 3,
                    (Role.COUNTY, ELSEWHERE[:6]): 1, (Role.CITY, "320600"): 4, (Role.DEPARTMENT, "320613-water"): 0}
        for (role, unit), total in expected.items():
            summary = await grid.client.get("/api/v1/events/summary", headers=bearer(grid, role, unit))
            assert summary.status_code == 200 and summary.json()["total"] == total, (role, unit, summary.text)
        for params in ({"town_code": ELSEWHERE}, {"county_code": ELSEWHERE[:6]}, {"town_code": TOWN_B}):
            refused = await grid.client.get("/api/v1/events/summary", params=params, headers=grid.staff)
            assert refused.status_code == 403, params
        county = bearer(grid, Role.COUNTY, COUNTY_A)
        assert (await grid.client.get("/api/v1/events/summary", params={"town_code": TOWN_B},
                                      headers=county)).json()["total"] == 1


async def test_patrol_coverage_lists_only_the_callers_area(start_grid):
    async with start_grid() as grid:
        city_key = await grid.key()
        start = utcnow() - timedelta(hours=3)
        for town in (TOWN_A, ELSEWHERE):
            began = await grid.client.post("/api/v1/patrols", json={
                "worker_id": f"gw-{town}", "grid_code": first_grid(town).code, "started_at": start.isoformat()},
                headers={**city_key, "Idempotency-Key": uuid.uuid4().hex})
            assert began.status_code == 201, began.text
        period = {"from": (start - timedelta(hours=1)).isoformat(), "to": utcnow().isoformat()}
        mine = await grid.client.get("/api/v1/patrols/coverage", params=period, headers=grid.staff)
        assert [c["worker_id"] for c in mine.json() if c["worker_id"]] == [f"gw-{TOWN_A}"]
        assert {c["grid_code"][:9] for c in mine.json()} == {TOWN_A}  # the unpatrolled grids: its own town's only
        city = await grid.client.get("/api/v1/patrols/coverage", params=period,
                                     headers=bearer(grid, Role.CITY, "320600"))
        assert len([c for c in city.json() if c["worker_id"]]) == 2
        refused = await grid.client.get("/api/v1/patrols/coverage", params={**period, "county_code": "320612"},
                                        headers=grid.staff)
        assert refused.status_code == 403


async def test_a_photo_is_read_only_by_keys_whose_scope_covers_its_uploader(start_grid):
    async with start_grid() as grid:
        town_a, town_b = await grid.key(TOWN_A), await grid.key(TOWN_B)
        county, city = await grid.key(COUNTY_A), await grid.key()
        photo_id = await grid.photo(town_a, JPEG)
        for reader in (town_a, county, city):
            assert (await grid.client.get(f"/api/v1/photos/{photo_id}", headers=reader)).status_code == 200
        for reader in (town_b, await grid.key(ELSEWHERE[:6])):
            hidden = await grid.client.get(f"/api/v1/photos/{photo_id}", headers=reader)
            assert hidden.status_code == 404 and hidden.content != JPEG
