"""The grid registry: the demo city at first start, GeoJSON export and import, validation, index rebuild."""

from __future__ import annotations

import copy

from sqlalchemy import func, select

from services.grid.adapters.orm import Grid, GridMember, TownArea
from shared.democity import grids
from tests.integration.grid.conftest import TOWN_A, first_grid, inside
from tests.support.geo import side_by_side


def _features(doc, kind=None):
    return [f for f in doc["features"] if kind is None or f["properties"]["kind"] == kind]


async def test_the_demo_city_loads_into_an_empty_registry_and_grids_read_back_with_masked_phones(start_grid):
    async with start_grid() as grid:
        async with grid.runtime.sessions() as s:
            counts = [(await s.execute(select(func.count()).select_from(m))).scalar_one()
                      for m in (Grid, GridMember, TownArea)]
        assert counts == [9303, sum(len(g.members) for g in grids()), 96]
        a = first_grid(TOWN_A)
        seen = (await grid.client.get(f"/api/v1/grids/{a.code}", headers=grid.staff)).json()
        assert seen["kind"] == "comprehensive" and seen["village_code"] == a.village_code
        assert seen["members"][0]["role"] == "grid_leader" and "****" in seen["members"][0]["phone"]
        admin = (await grid.client.get(f"/api/v1/grids/{a.code}", headers=grid.admin)).json()
        assert admin["members"][0]["phone"] == a.members[0].phone
        listed = (await grid.client.get("/api/v1/grids", params={"town_code": TOWN_A, "kind": "dedicated"},
                                        headers=grid.staff)).json()
        assert listed and all(g["kind"] == "dedicated" and g["town_code"] == TOWN_A for g in listed)


async def test_an_import_with_problems_is_refused_feature_by_feature_and_writes_nothing(start_grid):
    async with start_grid() as grid:
        export = (await grid.client.get("/api/v1/admin/grids/export", params={"town_code": TOWN_A},
                                        headers=grid.admin)).json()
        assert (await grid.client.get("/api/v1/admin/grids/export", headers=grid.staff)).status_code == 403
        broken = copy.deepcopy(export)
        comp = _features(broken, "comprehensive")
        comp[1]["properties"]["code"] = comp[0]["properties"]["code"]  # duplicate
        comp[2]["properties"]["code"] = "320613999999001"  # does not extend its village
        ring = comp[3]["geometry"]["coordinates"][0]
        shift = (ring[2][1] - ring[0][1]) / 2
        comp[3]["geometry"]["coordinates"] = [[[x, y + shift] for x, y in ring]]  # overlaps the next grid
        comp[7]["geometry"]["coordinates"] = [[[x + 1.0, y] for x, y in comp[7]["geometry"]["coordinates"][0]]]
        comp[5]["geometry"]["coordinates"] = [[ring[0], ring[2], ring[1], ring[3], ring[0]]]  # a bow tie
        refused = await grid.client.post("/api/v1/admin/grids/import", json=broken, headers=grid.admin)
        assert refused.status_code == 422
        problems = refused.json()["detail"]
        by_type = {p["type"]: p for p in problems}
        assert by_type["duplicate_code"]["field"] == f"features[{broken['features'].index(comp[1])}].properties.code"
        assert "does not extend its village code" in by_type["code_hierarchy"]["message"]
        assert by_type["invalid_polygon"]["code"] == comp[5]["properties"]["code"]
        # Validation stops at the structural problems; fix those and the spatial ones come out.
        comp[1]["properties"]["code"] = export["features"][broken["features"].index(comp[1])]["properties"]["code"]
        comp[2]["properties"]["code"] = export["features"][broken["features"].index(comp[2])]["properties"]["code"]
        comp[5]["geometry"] = copy.deepcopy(export["features"][broken["features"].index(comp[5])]["geometry"])
        refused = await grid.client.post("/api/v1/admin/grids/import", json=broken, headers=grid.admin)
        types = {p["type"] for p in refused.json()["detail"]}
        assert refused.status_code == 422 and {"overlap", "outside_town", "gap"} <= types, refused.json()
        outside = next(p for p in refused.json()["detail"] if p["type"] == "outside_town")
        assert outside["code"] == comp[7]["properties"]["code"] and TOWN_A in outside["message"]
        async with grid.runtime.sessions() as s:
            assert (await s.execute(select(func.count()).select_from(Grid))).scalar_one() == 9303
            stored = await s.get(Grid, comp[3]["properties"]["code"])
            assert stored.polygon["coordinates"][0][0][1] == ring[0][1]


async def test_an_import_replaces_the_towns_grids_and_the_lookup_follows_at_once(start_grid):
    async with start_grid() as grid:
        export = (await grid.client.get("/api/v1/admin/grids/export", params={"town_code": TOWN_A},
                                        headers=grid.admin)).json()
        same = await grid.client.post("/api/v1/admin/grids/import", json=export, headers=grid.admin)
        assert same.status_code == 200, same.text
        assert same.json()["imported"] == same.json()["replaced"] == len(_features(export)) - 1
        # Move the boundary between two neighbouring grids west by half of the first.
        a, second = side_by_side(TOWN_A)
        x0, x1 = a.polygon[0][0], a.polygon[1][0]
        mid = (x0 + x1) / 2
        point = {"lon": x0 + (x1 - x0) * 0.75, "lat": inside(a)["lat"]}
        assert (await grid.client.get("/api/v1/lookup", params=point)).json()["grid_code"] == a.code
        for feature in _features(export):
            ring = feature["geometry"]["coordinates"][0]
            if feature["properties"]["code"] in (a.code, second.code):
                feature["geometry"]["coordinates"] = [[[mid if x == x1 else x, y] for x, y in ring]]
        moved = await grid.client.post("/api/v1/admin/grids/import", json=export, headers=grid.admin)
        assert moved.status_code == 200, moved.text
        assert (await grid.client.get("/api/v1/lookup", params=point)).json()["grid_code"] == second.code
