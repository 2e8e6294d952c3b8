"""The seeded city day: the same seed gives the same inputs, and the mixes follow the scenario file."""

from __future__ import annotations

import dataclasses

import pytest

from services.simulator import generator, scenario
from shared.categories import CategoryTable


@pytest.fixture(scope="module")
def weekday() -> scenario.Scenario:
    return scenario.load("weekday")


@pytest.fixture(scope="module")
def small_day(weekday) -> generator.Stream:
    return generator.generate(weekday, seed=7, day="2026-12-02", rate=0.05)


def test_the_same_seed_gives_the_same_stream_and_hash(weekday, small_day):
    again = generator.generate(weekday, seed=7, day="2026-12-02", rate=0.05)
    assert again.items == small_day.items
    assert again.hash == small_day.hash and len(small_day.hash) == 64


def test_another_seed_or_day_gives_another_stream(weekday, small_day):
    assert generator.generate(weekday, seed=8, day="2026-12-02", rate=0.05).hash != small_day.hash
    assert generator.generate(weekday, seed=7, day="2026-12-03", rate=0.05).hash != small_day.hash


def test_the_hash_changes_when_any_field_of_any_item_changes(small_day):
    items = list(small_day.items)
    items[5] = generator.Item(**{**items[5].__dict__, "at_s": items[5].at_s + 0.001})
    assert generator.stream_hash(items) != small_day.hash


def test_items_are_in_time_order_within_the_window(weekday):
    morning = generator.generate(weekday, seed=3, day="2026-12-02", rate=0.05, start_h=8, duration_h=4)
    times = [i.at_s for i in morning.items]
    assert times == sorted(times) and morning.items
    assert 8 * 3600 <= times[0] and times[-1] < 12 * 3600


def test_a_nantong_weekday_has_ten_thousand_appeals_and_a_seventh_of_grid_events_reported_up(weekday):
    day = generator.generate(weekday, seed=7, day="2026-12-02")
    counts = day.counts()
    assert 9_500 <= counts["appeal"] <= 10_500  # seed 001: 每日受理群众诉求1万余件
    grid = [i for i in day.items if i.kind == "grid_event"]
    up = sum(1 for i in grid if i.expect == "dispatched") / len(grid)
    assert abs(up - 0.1418) < 0.02  # seed 001: 14.18% 提级办理
    peak = sum(1 for i in day.items if i.kind == "appeal" and 9 * 3600 <= i.at_s < 11 * 3600)
    night = sum(1 for i in day.items if i.kind == "appeal" and 2 * 3600 <= i.at_s < 4 * 3600)
    assert peak > 10 * night


def test_categories_come_from_the_code_table_and_emergencies_use_emergency_lines(small_day):
    table = CategoryTable.load()
    for item in small_day.items:
        code = item.body.get("category_code") or item.body.get("service_code")
        assert code in table, item
        if item.expect == "emergency":
            assert table.require(code).emergency_line
        elif item.kind == "appeal":
            assert not table.require(code).emergency_line


def test_duplicates_link_to_an_earlier_dispatched_appeal_and_reports_are_protected(small_day):
    by_key = {i.key: i for i in small_day.items}
    linked = [i for i in small_day.items if i.link_to]
    assert linked
    for item in linked:
        master = by_key[item.link_to]
        assert master.expect == "dispatched" and master.at_s <= item.at_s
        assert master.body["category_code"] == item.body["category_code"]
    reports = [i for i in small_day.items if i.kind == "appeal" and i.body["appeal_type"] == "report"]
    assert reports and all(i.body.get("confidential") for i in reports)


def test_detections_below_the_threshold_are_expected_to_wait_for_review(weekday):
    only_detections = dataclasses.replace(weekday, volumes={"appeals": 0, "grid_events": 0, "open311": 0,
                                                            "detections": 300})
    day = generator.generate(only_detections, seed=11, day="2026-12-02")
    detections = [i for i in day.items if i.kind == "detection"]
    assert any(i.expect == "held" for i in detections) and any(i.expect == "dispatched" for i in detections)
    for item in detections:
        assert (item.body["confidence"] < weekday.detection_threshold) == (item.expect == "held")


def test_a_typhoon_floods_one_town_with_calls_for_the_hours_it_lasts():
    typhoon = scenario.load("typhoon")
    surge = typhoon.surges[0]
    day = generator.generate(typhoon, seed=7, day="2026-12-02", rate=0.2)
    in_town = [i for i in day.items if i.kind == "appeal" and i.body["category_code"] in surge.categories
               and surge.start_hour * 3600 <= i.at_s < surge.end_hour * 3600]
    assert len(in_town) > 0.8 * surge.appeals * 0.2


@pytest.mark.parametrize("name", ["weekday", "typhoon", "holiday"])
def test_every_shipped_scenario_loads(name):
    assert scenario.load(name).name == name


def test_a_broken_scenario_names_its_field():
    with pytest.raises(scenario.ScenarioError, match="hourly_curve"):
        scenario.parse({"hourly_curve": [1, 2, 3]})
    with pytest.raises(scenario.ScenarioError, match="appeal_types"):
        scenario.parse({"hourly_curve": [1] * 24, "appeal_types": {"gossip": 1}})


def test_a_point_drawn_for_a_town_lies_in_that_town():
    import random

    from shared.democity import grids
    from shared.gridindex import GridIndex

    index, city, rng = GridIndex.build(grids()), generator._City(), random.Random(5)
    wrong = [(town, p) for town, _ in city.towns for p in (city.point(rng, town) for _ in range(5))
             if index.locate(p["lon"], p["lat"]).town_code != town]
    assert wrong == []
