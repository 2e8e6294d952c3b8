"""Town and county outlines for the city map, from the grids of the registry."""

from __future__ import annotations

import pytest
import shapely

from shared.gridindex import IndexedGrid, area_outlines

pytestmark = pytest.mark.unit


def square(code: str, x: float, y: float, town: str, county: str = "C1", kind: str = "comprehensive",
           size: float = 0.01) -> IndexedGrid:
    ring = [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]
    return IndexedGrid(code, kind, town + "01", town, county, {"type": "Polygon", "coordinates": [ring]})


def test_a_town_is_the_union_of_its_grids_and_a_county_the_union_of_its_towns():
    grids = [square("g1", 0, 0, "T1"), square("g2", 0.01, 0, "T1"), square("g3", 0.02, 0, "T2")]
    outlines = area_outlines(grids, tolerance_deg=0)
    assert outlines["T1"].area == pytest.approx(0.0002) and outlines["T1"].geom_type == "Polygon"
    assert outlines["C1"].area == pytest.approx(0.0003)
    assert outlines["C1"].bounds == pytest.approx((0, 0, 0.03, 0.01))


def test_dedicated_grids_inside_a_town_add_nothing_and_a_town_in_two_pieces_keeps_both():
    grids = [square("g1", 0, 0, "T1"), square("d1", 0.002, 0.002, "T1", kind="dedicated", size=0.002),
             square("g2", 0.05, 0, "T1")]
    outlines = area_outlines(grids, tolerance_deg=0)
    assert outlines["T1"].geom_type == "MultiPolygon" and len(outlines["T1"].geoms) == 2
    assert outlines["T1"].area == pytest.approx(0.0002)


def test_the_demo_citys_outlines_cover_every_town_it_has_grids_for():
    from shared import democity

    grids = democity.grids()
    outlines = area_outlines(grids)
    towns = {g.town_code for g in grids}
    assert towns <= outlines.keys()
    assert all(shapely.is_valid(outlines[t]) and outlines[t].area > 0 for t in towns)
