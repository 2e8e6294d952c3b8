"""Handling rates over a fixture month, against values worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.dispatch.domain.handling_rates import (
    OrderFacts,
    UnitRates,
    compute,
    league,
    league_to_csv,
    period_bounds,
    period_of,
    score,
    to_csv,
)

CST = timezone(timedelta(hours=8))
NOV = datetime(2026, 11, 3, 10, tzinfo=CST)


def fixture_month() -> list[OrderFacts]:
    """Ten orders of town A in November 2026:
    - 7 signed on time, 3 not (one of which escalated away);
    - 6 closed, 4 of them on time; 1 of the closed was reopened;
    - 5 rated: 3 satisfied, 1 basically satisfied, 1 dissatisfied; 4 answered on resolution: 3 resolved;
    - 2 returned at least once.
    """
    f = OrderFacts
    return [
        f("A", NOV, True, True, True, satisfaction="satisfied", resolved=True),
        f("A", NOV, True, True, True, satisfaction="satisfied", resolved=True),
        f("A", NOV, True, True, True, satisfaction="satisfied", resolved=True),
        f("A", NOV, True, True, True, satisfaction="basically_satisfied"),
        f("A", NOV, True, True, False, reopened=True, satisfaction="dissatisfied", resolved=False),
        f("A", NOV, True, True, False),
        f("A", NOV, True, returned=True),
        f("A", NOV, False, returned=True),
        f("A", NOV, False, escalated=True),
        f("A", NOV, False),
    ]


def test_the_rates_of_a_fixture_month_equal_the_hand_computed_values():
    rates = compute(fixture_month(), unit="A", direct_answers=(30, 120))
    expected = {"response": (7, 10, 0.7), "closed_on_time": (4, 6, 0.6667), "resolution": (3, 4, 0.75),
                "satisfaction": (4, 5, 0.8), "return": (2, 10, 0.2), "reopen": (1, 6, 0.1667),
                "escalation": (1, 10, 0.1), "direct_answer": (30, 120, 0.25)}
    for name, (num, den, value) in expected.items():
        rate = rates.rates[name]
        assert (rate.numerator, rate.denominator, rate.value) == (num, den, value), name
    # 0.2·0.7 + 0.3·0.6667 + 0.3·0.8 + 0.2·0.75 = 0.73 (weights sum to 1), less the penalties
    # 0.1·0.2 (return) + 0.1·0.1667 (reopen) + 0.1·0.1 (escalation) = 0.0467
    assert score(rates) == pytest.approx(68.33, abs=0.01)


def test_a_rate_without_a_denominator_is_no_data_not_zero():
    rates = compute([OrderFacts("A", NOV)], unit="A")
    assert rates.rates["satisfaction"].value is None and rates.rates["response"].value == 0.0


def test_periods_are_china_time_days_weeks_and_months():
    late_utc = datetime(2026, 11, 30, 17, tzinfo=UTC)  # already 1 December in China
    assert period_of(late_utc, "month") == "2026-12" and period_of(late_utc, "day") == "2026-12-01"
    assert period_of(late_utc, "week") == "2026-W49"
    start, end = period_bounds("2026-12")
    assert start <= late_utc < end and (end - start).days == 31


def _unit(code: str, orders: int, on_time: int) -> UnitRates:
    facts = [OrderFacts(code, NOV, i < on_time) for i in range(orders)]
    return compute(facts, unit=code)


def test_the_league_table_lists_the_best_and_the_worst_and_sets_small_units_apart():
    units = [_unit(f"T{i:02d}", 20, i) for i in range(12)] + [_unit("SMALL", 3, 3)]
    table = league(units, size=5, min_orders=10)
    assert [u.unit for u, _ in table.red] == ["T11", "T10", "T09", "T08", "T07"]
    assert [u.unit for u, _ in table.black] == ["T00", "T01", "T02", "T03", "T04"]
    assert [u.unit for u in table.excluded] == ["SMALL"]
    tied = league([_unit("B", 20, 5), _unit("A", 20, 5)], size=1, min_orders=1)
    assert tied.red[0][0].unit == "A"  # same score and size: by code, every time


def test_the_csv_opens_in_excel_with_chinese_headers():
    text = to_csv([compute(fixture_month(), unit="A")], names={"A": "金沙街道"}, period="2026-11")
    assert text.startswith("\ufeff周期 period,单位代码 unit")
    assert "金沙街道" in text and ",0.7,7,10," in text


def test_an_order_still_inside_its_sign_for_window_is_not_counted_as_missed():
    now = NOV + timedelta(hours=1)
    fresh = OrderFacts("A", NOV, sign_deadline=NOV + timedelta(hours=24))
    overdue = OrderFacts("A", NOV - timedelta(days=2), sign_deadline=NOV - timedelta(days=1))
    escalated = OrderFacts("A", NOV, escalated=True, sign_deadline=NOV + timedelta(hours=24))
    signed = OrderFacts("A", NOV, True, sign_deadline=NOV + timedelta(hours=24))
    rates = compute([fresh, overdue, escalated, signed], unit="A", as_of=now)
    response = rates.rates["response"]
    assert (response.numerator, response.denominator) == (1, 3)  # the fresh one is in no count yet
    assert compute([fresh], unit="A", as_of=now).rates["response"].value is None  # no data, not 0 %
    assert compute([fresh], unit="A", as_of=NOV + timedelta(days=2)).rates["response"].value == 0.0


def test_two_fresh_orders_put_a_town_on_neither_list():
    fresh = [OrderFacts("NEW", NOV, sign_deadline=NOV + timedelta(hours=24)) for _ in range(2)]
    units = [compute(fresh, unit="NEW", as_of=NOV + timedelta(minutes=5)), _unit("OLD1", 20, 10),
             _unit("OLD2", 20, 15)]
    table = league(units, size=5, min_orders=1)
    assert [u.unit for u in table.excluded] == ["NEW"]
    assert [u.unit for u, _ in table.red] == ["OLD2"] and [u.unit for u, _ in table.black] == ["OLD1"]


def test_no_unit_is_both_red_and_black():
    for n in range(1, 12):
        table = league([_unit(f"T{i:02d}", 20, i) for i in range(n)], size=5, min_orders=10)
        red, black = {u.unit for u, _ in table.red}, {u.unit for u, _ in table.black}
        assert not red & black, n
        assert len(red) == len(black) == min(5, n // 2)


def test_the_reopen_rate_lowers_the_score():
    closed = [OrderFacts("A", NOV, True, True, True) for _ in range(10)]
    reopened = [OrderFacts("A", NOV, True, True, True, reopened=i < 5) for i in range(10)]
    assert score(compute(closed, unit="A")) - score(compute(reopened, unit="A")) == pytest.approx(5.0)


def test_the_league_table_csv_opens_in_excel_and_names_each_list():
    units = [_unit(f"T{i:02d}", 20, i) for i in range(4)] + [_unit("SMALL", 3, 3)]
    text = league_to_csv(league(units, size=5, min_orders=10), names={"T03": "金沙街道"}, period="2026-11")
    assert text.startswith("\ufeff榜单 list,名次 rank,周期 period,单位代码 unit")
    lines = text.splitlines()
    assert lines[1].startswith("红榜 red,1,2026-11,T03,金沙街道,20,") and lines[3].startswith("黑榜 black,1,2026-11,T00")
    assert lines[-1].startswith("未排名 excluded,,2026-11,SMALL")
