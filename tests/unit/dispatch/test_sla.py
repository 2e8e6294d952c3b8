from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.dispatch.domain.sla import (
    CalendarNotCovered,
    Clock,
    Duration,
    Limits,
    SlaPolicy,
    SlaPolicyError,
    TimeUnit,
    WarningLevel,
    WorkCalendar,
    deadlines,
    next_warning,
    warning_due,
    warning_level,
)
from shared.reference import load_reference
from tests.unit.dispatch.city import CHONGCHUAN, CITY, HEPING, TONGZHOU, XITING, cst

WD, H = Duration.working_days, Duration.hours
CAL = WorkCalendar()


# 2026 National Day: 1–7 October off; Sunday 20 September and Saturday 10 October are make-up working days.

def test_one_working_day_before_national_day_ends_after_the_holiday():
    assert CAL.add(cst(2026, 9, 30, 10), WD(1)) == cst(2026, 10, 8, 10)


def test_the_make_up_saturday_after_national_day_counts_as_a_working_day():
    assert CAL.add(cst(2026, 9, 30, 10), WD(3)) == cst(2026, 10, 10, 10)
    assert CAL.add(cst(2026, 10, 10, 10), WD(1)) == cst(2026, 10, 12, 10)  # Sunday 11th is off


def test_the_make_up_sunday_before_national_day_counts_as_a_working_day():
    assert CAL.add(cst(2026, 9, 18, 10), WD(1)) == cst(2026, 9, 20, 10)  # Friday → Sunday 20th
    assert CAL.is_workday(date(2026, 9, 20)) and not CAL.is_workday(date(2026, 9, 19))


def test_ten_working_days_across_national_day():
    assert CAL.add(cst(2026, 9, 28, 9), WD(10)) == cst(2026, 10, 16, 9)


def test_a_start_on_a_holiday_counts_from_the_next_working_day():
    assert CAL.add(cst(2026, 10, 3, 15), WD(1)) == cst(2026, 10, 9, 0)  # the end of 8 October
    assert CAL.add(cst(2026, 10, 3, 15), WD(0.5)) == cst(2026, 10, 8, 12)


def test_clock_hours_run_through_holidays():
    assert CAL.add(cst(2026, 10, 1, 10), H(2)) == cst(2026, 10, 1, 12)
    assert CAL.add(cst(2026, 9, 30, 23), H(24)) == cst(2026, 10, 1, 23)


def test_working_days_are_counted_in_china_time_whatever_the_zone_given():
    start = datetime(2026, 9, 30, 2, tzinfo=UTC)  # 10:00 in Beijing
    end = CAL.add(start, WD(1))
    assert end == datetime(2026, 10, 8, 2, tzinfo=UTC) and end.tzinfo is UTC
    late = datetime(2026, 9, 30, 17, tzinfo=UTC)  # 01:00 on 1 October in Beijing: already the holiday
    assert CAL.add(late, WD(1)) == cst(2026, 10, 9, 0)
    with pytest.raises(ValueError, match="time zone"):
        CAL.add(datetime(2026, 9, 30, 10), WD(1))


def test_measure_is_the_inverse_of_add():
    start = cst(2026, 9, 29, 16)
    for limit in (WD(1), WD(2.5), WD(10), H(30)):
        end = CAL.add(start, limit)
        measured = CAL.measure(start, end, limit.unit)
        assert measured.amount == pytest.approx(limit.amount)
        assert CAL.add(end, -limit) == start


def test_beyond_the_calendars_coverage_weekdays_count_unless_strict_and_the_guess_is_told():
    assert CAL.last_covered_year() >= 2026
    monday, saturday = date(2099, 1, 5), date(2099, 1, 3)
    assert not CAL.covers(monday)
    told: list[tuple[date, str]] = []
    guessing = WorkCalendar(on_guess=lambda day, kind: told.append((day, kind)))
    assert guessing.is_workday(monday) and not guessing.is_workday(saturday)
    assert told == [(monday, "uncovered"), (saturday, "uncovered")]
    with pytest.raises(CalendarNotCovered, match="holiday file"):
        WorkCalendar(strict=True).is_workday(monday)
    override = WorkCalendar(extra_holidays=frozenset({monday}), extra_workdays=frozenset({saturday}))
    assert not override.is_workday(monday) and override.is_workday(saturday)


def test_a_deadline_in_2027_skips_the_spring_festival_and_says_the_year_is_provisional():
    # Friday 29 January 2027 + 10 working days: 5–8 February are the Spring Festival (除夕 to 初三).
    told: list[str] = []
    cal = WorkCalendar(on_guess=lambda day, kind: told.append(kind))
    assert cal.add(cst(2027, 1, 29, 10), WD(10)) == cst(2027, 2, 16, 10)
    assert not cal.is_workday(date(2027, 2, 8)) and set(told) == {"provisional"}
    assert cal.last_covered_year() == 2026 and cal.last_covered_year(official_only=False) == 2027


def test_accelerated_time_shrinks_hours_and_treats_a_working_day_as_24_hours():
    fast = WorkCalendar(time_scale=3600)  # one policy hour per real second
    start = cst(2026, 9, 30, 10)
    assert fast.add(start, H(2)) == start + timedelta(seconds=2)
    assert fast.add(start, WD(1)) == start + timedelta(seconds=24)  # the holiday is ignored
    assert fast.measure(start, start + timedelta(seconds=36), TimeUnit.WORKING_DAYS).amount == pytest.approx(1.5)


def test_a_paused_clock_keeps_its_remaining_working_time():
    dispatched = cst(2026, 10, 13, 10)  # Tuesday
    clock = Clock.start(dispatched, WD(2), CAL)
    assert clock.deadline == cst(2026, 10, 15, 10)  # Thursday
    paused = clock.pause(cst(2026, 10, 14, 10), CAL)  # Wednesday: one working day left
    assert paused.paused and paused.deadline is None
    assert paused.remaining.amount == pytest.approx(1.0)
    resumed = paused.resume(cst(2026, 10, 19, 10), CAL)  # the next Monday: the weekend cost nothing
    assert resumed.deadline == cst(2026, 10, 20, 10) and not resumed.paused


def test_mid_autumn_festival_is_off_too():
    # 中秋节 2026 falls on Friday 25 September: Thursday + 2 working days lands on Tuesday.
    assert CAL.add(cst(2026, 9, 24, 10), WD(2)) == cst(2026, 9, 29, 10)


def test_a_paused_hour_clock_keeps_its_remaining_hours():
    clock = Clock.start(cst(2026, 9, 24, 10), H(2), CAL)
    resumed = clock.pause(cst(2026, 9, 24, 11, 30), CAL).resume(cst(2026, 9, 26, 9), CAL)
    assert resumed.deadline == cst(2026, 9, 26, 9, 30)


def test_an_extension_moves_the_deadline_by_working_days():
    clock = Clock.start(cst(2026, 9, 29, 10), WD(1), CAL)
    assert clock.extend(WD(2), CAL).deadline == cst(2026, 10, 9, 10)


def test_yellow_comes_at_the_configured_share_and_red_at_the_deadline():
    start, deadline = cst(2026, 9, 24, 10), cst(2026, 9, 24, 18)
    assert warning_due(start, deadline, 0.75) == cst(2026, 9, 24, 16)
    assert warning_level(start, deadline, cst(2026, 9, 24, 15, 59), 0.75) is None
    assert warning_level(start, deadline, cst(2026, 9, 24, 16), 0.75) is WarningLevel.YELLOW
    assert warning_level(start, deadline, deadline, 0.75) is WarningLevel.RED
    assert next_warning(start, deadline, cst(2026, 9, 24, 17), 0.75, {WarningLevel.YELLOW}) is None
    assert next_warning(start, deadline, cst(2026, 9, 24, 19), 0.75, {WarningLevel.YELLOW}) is WarningLevel.RED


@pytest.fixture(scope="module")
def policy() -> SlaPolicy:
    return SlaPolicy.from_mapping(load_reference("sla"))


def limits(policy, *, area=(CITY, TONGZHOU, XITING), appeal="complaint", category="020101", urgency="normal"):
    return policy.limits(areas=area, appeal_type=appeal, category_code=category, urgency=urgency)


def test_the_shipped_policy_follows_the_common_rule(policy):
    assert limits(policy) == Limits(WD(1), WD(10))
    assert limits(policy, appeal="consultation") == Limits(WD(1), WD(3))
    assert limits(policy, appeal="help") == Limits(WD(1), WD(5))
    assert limits(policy, appeal="suggestion") == Limits(WD(1), WD(5))
    assert limits(policy, appeal="report") == Limits(WD(1), WD(10))
    assert limits(policy, urgency="urgent") == Limits(H(2), H(24))
    assert policy.settings.return_window == WD(2) and policy.settings.extension_max == WD(10)


def test_an_urgent_matter_keeps_urgent_times_despite_narrower_rules(policy):
    assert limits(policy, area=(CITY, CHONGCHUAN, HEPING), category="100101", urgency="urgent") == Limits(H(2), H(24))


def test_a_category_rule_beats_an_area_rule_which_beats_the_citys(policy):
    chongchuan = (CITY, CHONGCHUAN, HEPING)
    assert limits(policy, area=chongchuan).handle == WD(7)  # 崇川区's complaint promise
    assert limits(policy).handle == WD(10)  # elsewhere
    assert limits(policy, area=chongchuan, category="100101").handle == WD(5)  # wage arrears everywhere
    sign_rule, handle_rule = policy.rules_for(areas=chongchuan, appeal_type="complaint", category_code="020101",
                                              urgency="normal")
    assert (sign_rule.area, handle_rule.area) == ("*", CHONGCHUAN)


def test_deadlines_come_from_the_limits_and_the_calendar(policy):
    sign, handle = deadlines(cst(2026, 9, 30, 10), limits(policy, appeal="consultation"), CAL)
    assert (sign, handle) == (cst(2026, 10, 8, 10), cst(2026, 10, 10, 10))


def test_a_policy_without_a_catch_all_or_with_bad_values_is_refused():
    with pytest.raises(SlaPolicyError) as caught:
        SlaPolicy.from_mapping({
            "settings": {"yellow_share": 1.5},
            "rules": [{"appeal_type": "gossip", "handle": "3wd"}, {"urgency": "urgent", "sign": "2 days"},
                      {"area": "320612"}],
            "calendar": {"holidays": ["2027-01-01"], "workdays": ["2027-01-01"]},
        })
    problems = "\n".join(caught.value.problems)
    for expected in ("unknown appeal_type 'gossip'", "not a duration: '2 days'", "sets neither sign nor handle",
                     "no catch-all rule (every field open) sets sign", "yellow_share", "both holiday and workday"):
        assert expected in problems


def test_the_default_policy_matches_the_shipped_one_where_they_overlap(policy):
    defaults = SlaPolicy.defaults()
    for appeal in ("consultation", "help", "complaint", "report", "suggestion"):
        for urgency in ("normal", "urgent"):
            assert limits(defaults, appeal=appeal, urgency=urgency) == limits(policy, appeal=appeal, urgency=urgency)
