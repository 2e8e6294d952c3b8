"""Bad input to the grid service is a named 422 on SQLite and PostgreSQL alike, never a 500 or a silent answer."""

from __future__ import annotations

from tests.integration.grid.conftest import TOWN_A, TOWN_B


async def test_a_misspelt_filter_a_nul_or_a_huge_offset_is_refused_by_name(start_grid):
    async with start_grid() as grid:
        misspelt = await grid.client.get("/api/v1/grids", params={"town": TOWN_B}, headers=grid.admin)
        assert misspelt.status_code == 422, misspelt.text  # it answered another town's grids before
        assert [(e["field"], e["type"]) for e in misspelt.json()["detail"]] == [("town", "unknown_parameter")]
        huge = await grid.client.get("/api/v1/grids", params={"town_code": TOWN_A, "offset": str(2**70)},
                                     headers=grid.admin)
        assert huge.status_code == 422 and huge.json()["detail"][0]["field"] == "offset", huge.text
        key = await grid.key(TOWN_A)
        nul = await grid.report(key, description="河道漂浮垃圾\x00")
        assert nul.status_code == 422, nul.text
        assert [(e["field"], e["type"]) for e in nul.json()["detail"]] == [("description", "nul_character")]
        assert (await grid.report(key)).status_code == 201
