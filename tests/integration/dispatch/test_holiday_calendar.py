"""Working days follow the city's holiday file: dispatch warns at start when the published schedule ends within
60 days, exposes how far it reaches, and logs and counts the days it has to count without one."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from services.dispatch.domain.sla import CHINA_TZ, Duration
from shared import holidays

pytestmark = pytest.mark.integration


def guessed(kind: str) -> float:
    return REGISTRY.get_sample_value("mcc_working_days_guessed_total", {"kind": kind}) or 0.0


def days_left(status: str) -> float | None:
    return REGISTRY.get_sample_value("mcc_holiday_calendar_days_left", {"status": status})


async def test_a_calendar_ending_soon_is_warned_about_exposed_and_days_beyond_it_are_logged_and_counted(
        start_dispatch, tmp_path, caplog):
    today = datetime.now(CHINA_TZ).date()
    # A schedule whose only (official) year ends within 60 days of today: this year, or next if it is November.
    year = today.year if (date(today.year, 12, 31) - today).days < 60 else today.year - 1
    path = tmp_path / "holidays.yaml"
    path.write_text(f"{year}:\n  status: official\n  holidays:\n    元旦: {year}-01-01\n  workdays: []\n")
    caplog.set_level(logging.WARNING, logger="mcc.dispatch.calendar")
    async with start_dispatch(holidays_file=str(path)) as d:
        left = (date(year, 12, 31) - today).days
        assert any("official holiday schedule ends" in r.getMessage() and r.days_left == left
                   for r in caplog.records), [r.getMessage() for r in caplog.records]
        assert days_left("official") == left == days_left("any")
        text = (await d.client.get("/metrics")).text
        assert 'mcc_holiday_calendar_days_left{status="official"}' in text

        # A deadline past the file: counted Monday to Friday, and said so (once in the log, per day in the metric).
        calendar = d.app.state.policy.policy.calendar
        before = guessed("uncovered")
        start = datetime(year + 1, 1, 4, 10, tzinfo=CHINA_TZ)
        end = calendar.add(start, Duration.working_days(10))
        assert end == start + timedelta(days=14)  # two weeks: Monday to Friday, no holidays known
        assert guessed("uncovered") >= before + 10
        lines = [r for r in caplog.records if "Monday to Friday, no holidays" in r.getMessage()]
        assert len(lines) == 1 and lines[0].year == year + 1


async def test_the_shipped_calendar_counts_2027s_spring_festival_and_says_the_year_is_provisional(
        start_dispatch, caplog):
    caplog.set_level(logging.WARNING, logger="mcc.dispatch.calendar")
    assert holidays.shipped().years[2027] == "provisional"
    async with start_dispatch() as d:
        calendar = d.app.state.policy.policy.calendar
        before = guessed("provisional")
        start = datetime(2027, 1, 29, 10, tzinfo=CHINA_TZ)  # Friday before 除夕 (5 February 2027)
        assert calendar.add(start, Duration.working_days(10)) == datetime(2027, 2, 16, 10, tzinfo=CHINA_TZ)
        assert guessed("provisional") > before
        assert any("provisional statutory days only" in r.getMessage() for r in caplog.records)
