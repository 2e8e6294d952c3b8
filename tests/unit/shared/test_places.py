from dataclasses import dataclass

import pytest

from shared.places import PlaceMatcher, short_forms


@dataclass(frozen=True)
class Unit:
    code: str
    name: str
    kind: str
    parent_code: str | None
    function: str | None = None


UNITS = [
    Unit("320600", "南通市", "city", None),
    Unit("320623", "如东县", "county", "320600"),
    Unit("320621", "海安市", "county", "320600"),
    Unit("320623001", "掘港街道", "town", "320623"),
    Unit("320623102", "马塘镇", "town", "320623"),
    Unit("320621101", "城东镇", "town", "320621"),
    Unit("320623001001", "掘港社区", "community", "320623001"),
    Unit("320623001201", "新光村", "village", "320623001"),
    Unit("320623001202", "友谊村", "village", "320623001"),
    Unit("320623102201", "友谊村", "village", "320623102"),
    Unit("320623102202", "兴仁村", "village", "320623102"),
    Unit("320621101201", "兴仁村", "village", "320621101"),
    Unit("320623-water", "如东县水务局", "department", "320623"),
]


@pytest.fixture(scope="module")
def matcher():
    return PlaceMatcher.build(UNITS)


def codes(match):
    return (match.village_code, match.town_code, match.county_code)


@pytest.mark.parametrize(("name", "kind", "forms"), [
    ("南通市", "city", ("南通市", "南通")),
    ("如东县", "county", ("如东县", "如东")),
    ("海安市", "county", ("海安市", "海安")),
    ("掘港街道", "town", ("掘港街道", "掘港")),
    ("兴仁村", "village", ("兴仁村", "兴仁")),
    ("东村", "village", ("东村",)),
])
def test_place_names_are_indexed_with_the_short_forms_people_say(name, kind, forms):
    assert short_forms(name, kind) == forms


def test_a_full_address_resolves_down_to_the_village(matcher):
    match = matcher.match("南通市如东县掘港街道新光村3组12号")
    assert codes(match) == ("320623001201", "320623001", "320623")
    assert match.matched_names == ("南通市", "如东县", "掘港街道", "新光村")
    assert match.confidence >= 0.9


def test_short_forms_resolve_as_well(matcher):
    match = matcher.match("如东马塘兴仁 村口的桥")
    assert codes(match) == ("320623102202", "320623102", "320623")


def test_a_village_name_found_in_two_counties_is_not_guessed(matcher):
    assert matcher.match("兴仁村的河道有垃圾") is None


def test_the_county_named_in_the_text_picks_which_village_is_meant(matcher):
    match = matcher.match("海安兴仁村")
    assert codes(match) == ("320621101201", "320621101", "320621")


def test_a_village_name_found_in_two_towns_of_the_named_county_stops_at_the_county(matcher):
    match = matcher.match("如东县友谊村")
    assert codes(match) == (None, None, "320623")
    assert match.confidence < matcher.match("如东县掘港街道友谊村").confidence


def test_the_town_named_in_the_text_picks_which_village_is_meant(matcher):
    assert codes(matcher.match("掘港友谊村")) == ("320623001202", "320623001", "320623")
    assert codes(matcher.match("马塘镇友谊村")) == ("320623102201", "320623102", "320623")


def test_a_unique_village_name_is_accepted_on_its_own(matcher):
    match = matcher.match("新光村")
    assert codes(match) == ("320623001201", "320623001", "320623")


def test_a_bare_name_shared_by_a_town_and_its_community_means_the_town(matcher):
    assert codes(matcher.match("掘港人民路8号")) == (None, "320623001", "320623")
    assert codes(matcher.match("掘港社区")) == ("320623001001", "320623001", "320623")


def test_contradicting_names_fall_back_to_what_they_share(matcher):
    # 兴仁村 exists in 马塘镇, not in 掘港街道: both are in 如东县, so the county is all that is sure.
    match = matcher.match("如东县掘港街道兴仁村")
    assert codes(match) == (None, None, "320623")


def test_departments_and_city_only_text_do_not_locate(matcher):
    assert matcher.match("南通市") is None
    assert matcher.match("水务局门口") is None
    assert matcher.match("人民路与青年路交叉口") is None
    assert matcher.match("") is None


def test_a_large_topology_still_resolves_each_village():
    units = [Unit("c", "江海市", "city", None)]
    for county in range(10):
        units.append(Unit(f"k{county}", f"县{county:02d}县", "county", "c"))
        for town in range(10):
            units.append(Unit(f"t{county}{town}", f"镇{county:02d}{town:02d}镇", "town", f"k{county}"))
            for village in range(20):
                units.append(Unit(f"v{county}{town}{village:02d}", f"村{county:02d}{town:02d}{village:02d}村",
                                  "village", f"t{county}{town}"))
    big = PlaceMatcher.build(units)
    assert len(units) > 2000
    match = big.match("江海市县07县镇0703镇村070315村东头")
    assert codes(match) == ("v7315", "t73", "k7")
