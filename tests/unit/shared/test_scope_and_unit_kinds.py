"""Who may see what, as one value, and a unit's kind read from its code (the door of the services without the
organisation tree)."""

from __future__ import annotations

import pytest

from shared.roles import Role, kind_by_code, role_fits_kind
from shared.scope import EVERYTHING, NOTHING, Scope, area_scope, key_scope, principal_area_scope


@pytest.mark.parametrize(("code", "kind"), [
    ("320600", "city"), ("320612", "county"), ("320612101", "town"), ("320612101001", "village"),
    ("320600-water", "department"), ("320612-water", "department"),
    ("320500", None), ("110000", None), ("320612-", None), ("330612101", None), ("", None), ("32061", None),
])
def test_a_units_kind_is_read_from_its_code_within_the_city(code, kind):
    assert kind_by_code(code, city_code="320600") == kind


def test_a_role_fits_only_the_unit_kinds_it_belongs_to():
    assert role_fits_kind(Role.COUNTY, "county") and not role_fits_kind(Role.COUNTY, "town")
    assert all(role_fits_kind(Role.ADMIN, k) for k in ("city", "county", "town"))
    assert not role_fits_kind(Role.ADMIN, "department") and not role_fits_kind(Role.CITY, None)


def test_a_dispatchers_scope_is_their_area_and_others_see_no_records_of_an_area():
    town = principal_area_scope(Role.TOWN, "320612101", "town")
    assert town.covers(town_code="320612101") and not town.covers(town_code="320612102", county_code="320612")
    county = principal_area_scope(Role.COUNTY, "320612", "county")
    assert county.covers(town_code="320612102", county_code="320612") and not county.covers(county_code="320613")
    assert principal_area_scope(Role.CITY, "320600", "city") is EVERYTHING
    for role, unit, kind in ((Role.DEPARTMENT, "320612-water", "department"), (Role.ADMIN, "320612", "county"),
                             (Role.CITY, "320612", "county"), (Role.TOWN, "320612", "county")):
        assert principal_area_scope(role, unit, kind) is NOTHING
    assert area_scope("320612", "county") == Scope(counties=frozenset({"320612"}))


def test_a_keys_scope_is_its_unit_or_the_whole_city_and_only_a_county_reviews_the_unplaced():
    assert key_scope(None) is EVERYTHING
    key = key_scope("320612101")
    assert key.covers(town_code="320612101", county_code="320612") and not key.covers(county_code="320612")
    assert not Scope(counties=frozenset({"320612"})).covers()
    assert Scope(counties=frozenset({"320612"}), unplaced=True).covers()
