from __future__ import annotations

import pytest

from services.dispatch.domain.duties import DutiesError, DutiesList, Owner, OwnerKind, route
from services.dispatch.domain.org import Tier
from shared.categories import CategoryTable
from shared.reference import load_reference
from tests.unit.dispatch.city import (
    CC_URBAN,
    CHONGCHUAN,
    CITY,
    CITY_EDUCATION,
    CITY_WATER,
    HEPING,
    HEPING_COMMUNITY,
    JINSHA,
    JINSHA_COMMUNITY,
    TONGZHOU,
    TZ_MARKET,
    TZ_WATER,
    XITING,
    XITING_VILLAGE,
)

RULES = {"rules": [
    {"category": "02", "area": "*", "owner": "town"},  # 环境卫生: 属地
    {"category": "0202", "area": CHONGCHUAN, "owner": "department:urban_management"},  # 城区市容: 城管
    {"category": "04", "area": "*", "owner": "department:water"},
    {"category": "0402", "area": "*", "owner": "department:water@city"},  # 水费: 市水务
    {"category": "08", "area": "*", "owner": "department:market"},
    {"category": "11", "area": "*", "owner": "department:education"},  # only the city has one
    {"category": "13", "area": "*", "owner": "department:agriculture"},  # nobody has one
    {"category": "14", "area": "*", "owner": "town"},
    {"category": "14", "area": "*", "owner": "department:urban_management"},  # a conflict
    {"category": "18", "area": "*", "owner": "county"},
]}


@pytest.fixture(scope="module")
def duties() -> DutiesList:
    return DutiesList.from_mapping(RULES)


def test_a_department_category_goes_to_the_countys_department(org, duties):
    routing = route("040101", [TONGZHOU, XITING], org, duties)
    assert (routing.unit_code, routing.tier, routing.queue) == (TZ_WATER, Tier.COUNTY, False)
    assert routing.owner == Owner(OwnerKind.DEPARTMENT, "water")


def test_a_territorial_category_goes_to_the_town(org, duties):
    routing = route("020101", [TONGZHOU, XITING, XITING_VILLAGE], org, duties)
    assert (routing.unit_code, routing.tier, routing.queue) == (XITING, Tier.TOWN, False)


def test_nothing_is_ever_routed_to_a_village_or_community(org, duties):
    for category in ("020101", "040101", "080101", "180101"):
        for place in (XITING_VILLAGE, JINSHA_COMMUNITY, HEPING_COMMUNITY):
            routing = route(category, [place], org, duties)
            assert routing.unit_code not in (XITING_VILLAGE, JINSHA_COMMUNITY, HEPING_COMMUNITY)
    # The department's matter at a village address still goes to the county department.
    assert route("080101", [XITING_VILLAGE], org, duties).unit_code == TZ_MARKET


def test_a_duties_list_that_pushes_work_onto_a_village_is_refused():
    with pytest.raises(DutiesError, match="准入清单"):
        DutiesList.from_mapping({"rules": [{"category": "04", "area": "*", "owner": "village"}]})


def test_an_area_rule_beats_the_rule_for_everywhere(org, duties):
    assert route("020201", [HEPING_COMMUNITY], org, duties).unit_code == CC_URBAN
    assert route("020201", [JINSHA_COMMUNITY], org, duties).unit_code == JINSHA


def test_a_narrower_category_beats_a_narrower_area(org):
    duties = DutiesList.from_mapping({"rules": [
        {"category": "0202", "area": "*", "owner": "town"},
        {"category": "02", "area": CHONGCHUAN, "owner": "department:urban_management"},
    ]})
    assert route("020201", [HEPING], org, duties).unit_code == HEPING
    assert route("020101", [HEPING], org, duties).unit_code == CC_URBAN


def test_a_city_level_department_takes_the_matter_wherever_it_happens(org, duties):
    routing = route("040201", [XITING_VILLAGE], org, duties)
    assert (routing.unit_code, routing.tier, routing.queue) == (CITY_WATER, Tier.CITY, False)


def test_a_county_without_the_department_falls_back_to_the_citys(org, duties):
    routing = route("110101", [JINSHA], org, duties)
    assert (routing.unit_code, routing.tier) == (CITY_EDUCATION, Tier.CITY)


def test_owners_in_conflict_go_to_the_county_queue(org, duties):
    routing = route("140101", [TONGZHOU, XITING], org, duties)
    assert (routing.unit_code, routing.tier, routing.queue) == (TONGZHOU, Tier.COUNTY, True)
    assert "冲突" in routing.reason and "属地兜底" in routing.reason
    assert len(routing.rules) == 2


def test_a_matter_nobody_owns_goes_to_the_county_queue(org, duties):
    routing = route("170101", [XITING], org, duties)  # no rule for 17
    assert (routing.unit_code, routing.queue) == (TONGZHOU, True)
    missing_department = route("130101", [XITING], org, duties)  # no agriculture department anywhere
    assert (missing_department.unit_code, missing_department.queue) == (TONGZHOU, True)


def test_an_unknown_location_goes_to_the_city_queue(org, duties):
    for codes in ([], [None], ["999999999"], [TZ_WATER]):
        routing = route("020101", codes, org, duties)
        assert (routing.unit_code, routing.tier, routing.queue) == (CITY, Tier.CITY, True), codes


def test_a_location_known_only_to_the_county_queues_territorial_matters_there(org, duties):
    routing = route("020101", [TONGZHOU], org, duties)
    assert (routing.unit_code, routing.queue) == (TONGZHOU, True)
    assert route("040101", [TONGZHOU], org, duties).unit_code == TZ_WATER  # a department needs no town
    assert route("180101", [TONGZHOU], org, duties).unit_code == TONGZHOU  # the county owns it


def test_location_codes_that_disagree_go_to_a_queue(org, duties):
    same_county = route("020101", [JINSHA, XITING_VILLAGE], org, duties)
    assert (same_county.unit_code, same_county.queue) == (TONGZHOU, True)
    across_counties = route("020101", [HEPING, XITING], org, duties)
    assert (across_counties.unit_code, across_counties.queue) == (CITY, True)


def test_a_published_rule_replaces_the_catalogue_default_for_the_same_key(org):
    catalogue = CategoryTable.from_rows([
        {"code": "04", "name": "供水", "owner": "department:water"},
        {"code": "0401", "name": "供水服务"},
        {"code": "040101", "name": "停水"},
    ])
    plain = DutiesList.from_mapping({"rules": []}, catalogue=catalogue)
    assert route("040101", [XITING], org, plain).unit_code == TZ_WATER
    corrected = DutiesList.from_mapping({"rules": [{"category": "04", "area": "*", "owner": "town"}]},
                                        catalogue=catalogue)
    assert [r.source for r in corrected.rules] == ["duties"]
    assert route("040101", [XITING], org, corrected).unit_code == XITING


def test_the_shipped_duties_list_loads_over_the_shipped_categories(org):
    categories = CategoryTable.load()
    duties = DutiesList.from_mapping(load_reference("duties"), catalogue=categories)
    assert any(r.source == "catalogue" for r in duties.rules) and any(r.source == "duties" for r in duties.rules)
    # The shipped table sends 城区市容 in 崇川区 to the district's city-management bureau.
    assert route("020201", [HEPING_COMMUNITY], org, duties).unit_code == CC_URBAN
    assert route("020201", [XITING_VILLAGE], org, duties).unit_code == XITING
    assert route("010301", [XITING_VILLAGE], org, duties).unit_code == TZ_WATER
    problems = duties.problems(org=org, category_codes=[c.code for c in categories])
    assert "duties rule 130203 in 320614: unknown area" in problems  # 海门区 is not in this small city
