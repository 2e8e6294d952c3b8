"""The console's place field takes what the caller gives: an address, or a point as 经度,纬度."""

from __future__ import annotations

import pytest

from services.hotline.entrypoints.console import _place

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("typed", ["120.86,32.01", " 120.86， 32.01 ", "120.86 32.01", "121,32"])
def test_a_point_typed_into_the_place_field_is_taken_as_coordinates(typed):
    assert _place(typed, "") == ("", typed)


@pytest.mark.parametrize("typed", ["崇川区和平桥小区3栋", "人民中路 18 号", "120.86", "G15 出口 12 公里"])
def test_an_address_stays_an_address(typed):
    assert _place(typed, "") == (typed, "")


def test_coordinates_given_in_their_own_field_win_over_the_place_field():
    assert _place("120.1,31.1", "120.86,32.01") == ("120.1,31.1", "120.86,32.01")
