"""The demo city has Nantong's counts, and lookup answers inside, on a boundary and outside every grid."""

from __future__ import annotations

from collections import Counter

from services.grid.domain.lookup import GridIndex
from shared.democity import grids, units
from tests.support.geo import northern_edge


def test_the_demo_city_has_one_city_ten_counties_ninety_six_towns_and_nantongs_grid_counts():
    kinds = Counter(u.kind for u in units())
    assert (kinds["city"], kinds["county"], kinds["town"]) == (1, 10, 96)
    by_kind = Counter(g.kind for g in grids())
    assert by_kind == {"comprehensive": 8450, "dedicated": 853}


def test_every_grid_code_is_unique_and_extends_its_village_code():
    all_grids = grids()
    codes = [g.code for g in all_grids]
    assert len(set(codes)) == len(codes)
    village_codes = {u.code for u in units() if u.kind in ("village", "community")}
    assert all(g.code.startswith(g.village_code) and len(g.code) == 15 for g in all_grids)
    assert {g.village_code for g in all_grids} <= village_codes


def test_a_point_inside_a_grid_is_located_to_that_grid_and_its_parents():
    grid = next(g for g in grids() if g.kind == "comprehensive")
    (x0, y0), (x1, _), (_, y1) = grid.polygon[0], grid.polygon[1], grid.polygon[2]
    # The lower-left corner quarter is outside any dedicated grid (those sit in the middle).
    found = GridIndex.build(grids()).locate(x0 + (x1 - x0) * 0.1, y0 + (y1 - y0) * 0.1)
    assert (found.grid_code, found.town_code, found.flagged) == (grid.code, grid.town_code, False)


def test_a_point_inside_a_dedicated_grid_belongs_to_the_dedicated_grid():
    dedicated = next(g for g in grids() if g.kind == "dedicated")
    (x0, y0), (x1, _), (_, y1) = dedicated.polygon[0], dedicated.polygon[1], dedicated.polygon[2]
    assert GridIndex.build(grids()).locate((x0 + x1) / 2, (y0 + y1) / 2).grid_code == dedicated.code


def test_a_point_on_a_shared_edge_gets_the_lowest_code_every_time():
    edge, lower = northern_edge(next(g for g in grids() if g.kind == "comprehensive"))
    index = GridIndex.build(grids())
    assert {index.locate(edge["lon"], edge["lat"]).grid_code for _ in range(5)} == {lower}


def test_a_point_outside_every_grid_falls_back_to_the_nearest_town_flagged():
    found = GridIndex.build(grids()).locate(119.0, 32.0)
    assert found.grid_code is None and found.town_code and found.flagged and found.distance_m > 0


def test_the_vectorised_lookup_gives_the_same_answers_as_one_point_at_a_time():
    import random

    from shared.democity import BBOX

    index = GridIndex.build(grids())
    rng = random.Random(7)
    lons = [rng.uniform(BBOX[0] - 0.05, BBOX[2]) for _ in range(300)]
    lats = [rng.uniform(BBOX[1], BBOX[3] + 0.05) for _ in range(300)]
    edge = grids()[0]
    lons.append(edge.polygon[0][0] + 0.001)
    lats.append(edge.polygon[2][1])  # on a shared edge
    assert index.locate_many(lons, lats) == [index.locate(x, y) for x, y in zip(lons, lats, strict=True)]


def test_a_point_on_the_edge_of_a_dedicated_grid_belongs_to_the_dedicated_grid():
    dedicated = next(g for g in grids() if g.kind == "dedicated")
    (x0, y0), (x1, _) = dedicated.polygon[0], dedicated.polygon[1]
    assert GridIndex.build(grids()).locate((x0 + x1) / 2, y0).grid_code == dedicated.code
