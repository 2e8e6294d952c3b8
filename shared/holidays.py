"""The official holiday schedule working days are counted by, from a data file the city keeps up to date
(`shared/reference/holidays.yaml`, or `MCC_DISPATCH_HOLIDAYS_FILE`): per year, the days off and the make-up
working days (调休), and whether the year is the published schedule (`official`) or an estimate
(`provisional`: the statutory days only, until the State Council publishes the year).

Pure parsing and lookups; reading the file is `load`. Why a file and not a package: the package that shipped the
schedule ended with 2026 while orders were already being given deadlines in 2027, and nothing said so.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

DEFAULT_PATH = Path(__file__).resolve().parent / "reference" / "holidays.yaml"
STATUSES = ("official", "provisional")


class HolidayFileError(ValueError):
    """The holiday file is malformed; every problem is listed."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("holiday file: " + "; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class HolidaySchedule:
    """Days off and make-up working days for the years the file covers, each year official or provisional."""

    holidays: frozenset[date]
    workdays: frozenset[date]
    years: Mapping[int, str]  # year → official | provisional

    @classmethod
    def from_mapping(cls, data: Mapping[Any, Any]) -> HolidaySchedule:
        """The schedule from the file's structure ({year: {status, holidays: {name: date|[first, last]},
        workdays: [dates]}}); raises HolidayFileError listing every problem."""
        problems: list[str] = []
        holidays: set[date] = set()
        workdays: set[date] = set()
        years: dict[int, str] = {}
        for key, entry in (data or {}).items():
            try:
                year = int(key)
            except (TypeError, ValueError):
                problems.append(f"{key!r}: a year is expected")
                continue
            if not isinstance(entry, Mapping) or entry.get("status") not in STATUSES:
                problems.append(f"{year}: status must be one of {', '.join(STATUSES)}")
                continue
            years[year] = entry["status"]
            for name, span in (entry.get("holidays") or {}).items():
                days = _span(span)
                if days is None or any(d.year != year for d in days):
                    problems.append(f"{year}.holidays.{name}: a date or [first, last] within {year} is expected")
                    continue
                holidays.update(days)
            for day in entry.get("workdays") or []:
                if not isinstance(day, date) or day.year != year or day.weekday() < 5:
                    problems.append(f"{year}.workdays: {day!r} is not a weekend date of {year}")
                    continue
                workdays.add(day)
        if not years:
            problems.append("no year is listed")
        if problems:
            raise HolidayFileError(problems)
        return cls(frozenset(holidays), frozenset(workdays), dict(sorted(years.items())))

    def status(self, day: date) -> str | None:
        """official, provisional, or None when the file does not cover the day's year."""
        return self.years.get(day.year)

    def is_workday(self, day: date) -> bool:
        """Whether the day is a working day by this schedule (weekends and holidays off, 调休 days on)."""
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def last_day(self, *, official_only: bool = False) -> date | None:
        """The last day covered (by an official year only, if asked): the end of the last such year in a row
        from the first one."""
        covered = [y for y, s in self.years.items() if s == "official" or not official_only]
        if not covered:
            return None
        year = covered[0]
        while year + 1 in covered:
            year += 1
        return date(year, 12, 31)

    def days_left(self, today: date, *, official_only: bool = False) -> int:
        """Days from `today` to the end of the coverage (negative once past it; -1 with none at all)."""
        last = self.last_day(official_only=official_only)
        return (last - today).days if last is not None else -1


def _span(value: Any) -> list[date] | None:
    if isinstance(value, date):
        return [value]
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, date) for v in value) \
            and value[0] <= value[1] and (value[1] - value[0]).days < 31:
        return [value[0] + timedelta(days=i) for i in range((value[1] - value[0]).days + 1)]
    return None


def load(path: str | Path | None = None) -> HolidaySchedule:
    """The schedule in a YAML file; the shipped one when no path is given."""
    if path is None:
        return shipped()
    return HolidaySchedule.from_mapping(yaml.safe_load(Path(path).read_text(encoding="utf-8")))


@functools.cache
def shipped() -> HolidaySchedule:
    """The schedule shipped in shared/reference/holidays.yaml."""
    return HolidaySchedule.from_mapping(yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8")))
