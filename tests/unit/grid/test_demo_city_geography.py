"""The demo city lies where Nantong is: every town around its real seat of government, every county where it is
on the map, and points outside the city are outside it."""

from __future__ import annotations

import math

import pytest
import shapely

from shared import democity
from shared.democity.places import COUNTIES, TOWNS
from shared.gridindex import GridIndex

pytestmark = pytest.mark.unit

# A few hundred metres: the seats are public map coordinates rounded to about 1 km.
NEAR_M = 300


@pytest.fixture(scope="module")
def index() -> GridIndex:
    return GridIndex.build(democity.grids())


def around(lon: float, lat: float, metres: float) -> list[tuple[float, float]]:
    dlat = metres / 111_320
    dlon = dlat / math.cos(math.radians(lat))
    return [(lon, lat), (lon + dlon, lat), (lon - dlon, lat), (lon, lat + dlat), (lon, lat - dlat)]


def test_a_point_near_each_towns_seat_of_government_routes_to_that_town(index):
    wrong = {}
    for code, (lon, lat) in democity.seats().items():
        for x, y in around(lon, lat, NEAR_M):
            found = index.locate(x, y)
            if (found.town_code, found.flagged) != (code, False):
                wrong[code] = (x, y, found.town_code, found.flagged)
    assert wrong == {}
    assert len(democity.seats()) == 96


@pytest.mark.parametrize(("place", "lon", "lat", "county"), [
    ("南通市中心 南大街", 120.862, 32.012, "320613"),
    ("狼山", 120.893, 31.958, "320613"),
    ("通州区政府 金沙", 121.073, 32.085, "320612"),
    ("海门区 海门街道", 121.170, 31.895, "320614"),
    ("如东县 掘港", 121.185, 32.320, "320623"),
    ("启东市 汇龙镇", 121.655, 31.810, "320681"),
    ("如皋市 如城街道", 120.570, 32.375, "320682"),
    ("海安市 海安街道", 120.465, 32.535, "320685"),
])
def test_well_known_places_lie_in_their_county(index, place, lon, lat, county):
    found = index.locate(lon, lat)
    assert (found.county_code, found.flagged) == (county, False), place


@pytest.mark.parametrize(("place", "lon", "lat", "at_least_km"), [
    ("南京 新街口", 118.7969, 32.0603, 120), ("上海 人民广场", 121.4737, 31.2304, 40), ("(0, 0)", 0.0, 0.0, 10_000),
])
def test_points_outside_the_city_are_flagged_with_their_distance(index, place, lon, lat, at_least_km):
    found = index.locate(lon, lat)
    assert found.flagged and found.grid_code is None and found.distance_m > at_least_km * 1000, place


def test_each_county_and_town_is_one_area_and_its_seat_lies_in_it():
    outlines = democity.outlines()
    for code, _, (lon, lat) in COUNTIES:
        assert outlines[code].geom_type == "Polygon" and outlines[code].contains(shapely.Point(lon, lat))
    towns = [u for u in democity.units() if u.kind == "town"]
    assert all(outlines[u.code].geom_type == "Polygon" and not outlines[u.code].interiors for u in towns)
    assert {u.name for u in towns} == {name for county in TOWNS.values() for name, _ in county}


def test_the_city_is_nantongs_size():
    # Nantong's land is about 8,000 km² (the outline is traced to a few km, the lattice adds its steps).
    city = democity.outlines()[democity.CITY_CODE]
    km2 = city.area * 111.32 ** 2 * math.cos(math.radians(32.2))
    assert 7_000 < km2 < 10_000
