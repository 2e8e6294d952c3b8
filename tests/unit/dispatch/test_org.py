from __future__ import annotations

import pytest

from services.dispatch.domain.org import OrgTree, OrgTreeError, Tier
from tests.unit.dispatch.city import (
    CHONGCHUAN,
    CITY,
    CITY_WATER,
    JINSHA,
    JINSHA_COMMUNITY,
    TONGZHOU,
    TZ_WATER,
    XITING,
    XITING_VILLAGE,
    U,
)


def test_a_unit_knows_its_county_and_town(org):
    assert org.county_of(XITING_VILLAGE) == TONGZHOU
    assert org.town_of(XITING_VILLAGE) == XITING
    assert org.county_of(TZ_WATER) == TONGZHOU
    assert org.town_of(TONGZHOU) is None
    assert org.county_of(CITY_WATER) is None
    assert [u.code for u in org.ancestors(JINSHA_COMMUNITY)] == [JINSHA, TONGZHOU, CITY]
    assert org.chain(JINSHA_COMMUNITY) == (CITY, TONGZHOU, JINSHA, JINSHA_COMMUNITY)


def test_tiers_count_departments_in_the_tier_they_sit_under(org):
    assert org.tier_of(JINSHA) is Tier.TOWN
    assert org.tier_of(TZ_WATER) is Tier.COUNTY
    assert org.tier_of(CITY_WATER) is Tier.CITY
    assert org.tier_of(XITING_VILLAGE) is None


def test_the_upper_tier_climbs_one_command_centre_at_a_time(org):
    assert org.upper_tier(XITING).code == TONGZHOU
    assert org.upper_tier(TONGZHOU).code == CITY
    assert org.upper_tier(TZ_WATER).code == TONGZHOU
    assert org.upper_tier(CITY_WATER).code == CITY
    assert org.upper_tier(CITY) is None
    assert org.is_upper_tier_of(TONGZHOU, XITING) and org.is_upper_tier_of(CITY, XITING)
    assert not org.is_upper_tier_of(CHONGCHUAN, XITING)
    assert not org.is_upper_tier_of(XITING, XITING_VILLAGE)  # a town is not an arbitrating tier


def test_departments_are_found_by_function_and_tier(org):
    assert org.department("water", at=TONGZHOU).code == TZ_WATER
    assert org.department("water", at=CITY).code == CITY_WATER
    assert org.department("water", at=CHONGCHUAN) is None


def test_is_within_includes_the_area_itself_and_everything_below(org):
    assert org.is_within(XITING_VILLAGE, TONGZHOU)
    assert org.is_within(TZ_WATER, TONGZHOU)
    assert org.is_within(TONGZHOU, TONGZHOU)
    assert not org.is_within(XITING_VILLAGE, CHONGCHUAN)
    assert not org.is_within("nowhere", TONGZHOU)


def test_villages_are_never_dispatch_targets(org):
    assert org.is_dispatch_target(XITING) and org.is_dispatch_target(TZ_WATER)
    assert not org.is_dispatch_target(XITING_VILLAGE)
    assert not org.is_dispatch_target(JINSHA_COMMUNITY)


def test_a_malformed_tree_is_refused_with_every_fault():
    with pytest.raises(OrgTreeError) as caught:
        OrgTree.from_units([
            U("1", "市", "city", None),
            U("2", "另一个市", "city", None),
            U("11", "县", "county", "1"),
            U("111", "村挂县", "village", "11"),
            U("112", "无父", "town", "99"),
            U("11-x", "无职能", "department", "11"),
            U("11", "重复", "county", "1"),
            U("12", "怪", "province", "1"),
            U("11-w", "水务", "department", "11", "water"),
            U("11-w2", "水务二", "department", "11", "water"),
        ])
    problems = "\n".join(caught.value.problems)
    for expected in ("exactly one city unit, found 2", "a village cannot sit under a county",
                     "parent '99' does not exist", "a department needs a function", "11: code appears twice",
                     "unknown kind 'province'", "a second water department under 11"):
        assert expected in problems
