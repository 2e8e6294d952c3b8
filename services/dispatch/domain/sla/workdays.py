"""Working days: durations in hours or working days, and the calendar that counts them (holiday file, CST)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

from shared import holidays

CHINA_TZ = timezone(timedelta(hours=8), "CST")
ANY = "*"
_DAY = timedelta(days=1)
_MAX_DAYS_SCANNED = 3660  # ten years of days: a calendar with no working day in sight is an error
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(h|hours?|wd|working_days?)\s*$", re.IGNORECASE)


class TimeUnit(StrEnum):
    HOURS = "hours"  # 小时 (clock hours)
    WORKING_DAYS = "working_days"  # 工作日


@dataclass(frozen=True)
class Duration:
    amount: float
    unit: TimeUnit

    def __post_init__(self) -> None:
        object.__setattr__(self, "unit", TimeUnit(self.unit))

    @classmethod
    def hours(cls, amount: float) -> Duration:
        return cls(amount, TimeUnit.HOURS)

    @classmethod
    def working_days(cls, amount: float) -> Duration:
        return cls(amount, TimeUnit.WORKING_DAYS)

    @classmethod
    def parse(cls, value: str | Mapping[str, Any] | Duration) -> Duration:
        """`2h`, `24 hours`, `1wd`, `3 working_days` or {amount, unit}; ValueError otherwise."""
        if isinstance(value, Duration):
            return value
        if isinstance(value, Mapping):
            return cls(float(value["amount"]), TimeUnit(value["unit"]))
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"not a duration: {value!r} (write 2h or 3wd)")
        unit = TimeUnit.HOURS if match.group(2).lower().startswith("h") else TimeUnit.WORKING_DAYS
        return cls(float(match.group(1)), unit)

    def __str__(self) -> str:
        amount = int(self.amount) if float(self.amount).is_integer() else self.amount
        return f"{amount}{'h' if self.unit is TimeUnit.HOURS else 'wd'}"

    def __neg__(self) -> Duration:
        return Duration(-self.amount, self.unit)


class CalendarNotCovered(LookupError):
    """The holiday file has no schedule for this date's year (put the published schedule in it)."""


@dataclass(frozen=True)
class WorkCalendar:
    """Working days and deadline arithmetic. Datetimes must carry a time zone; results keep the start's."""

    time_scale: float = 1.0
    extra_holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()
    strict: bool = False
    schedule: holidays.HolidaySchedule = field(default_factory=holidays.shipped, repr=False, compare=False)
    # Told of every day counted without an official schedule ("provisional" year, or "uncovered": Mon–Fri).
    on_guess: Callable[[date, str], None] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.time_scale <= 0:
            raise ValueError("time_scale must be positive")
        object.__setattr__(self, "extra_holidays", frozenset(self.extra_holidays))
        object.__setattr__(self, "extra_workdays", frozenset(self.extra_workdays))

    @property
    def accelerated(self) -> bool:
        return self.time_scale != 1.0

    def covers(self, day: date) -> bool:
        """True when the holiday file has a schedule (official or provisional) for the day's year."""
        return self.schedule.status(day) is not None

    def last_covered_year(self, *, official_only: bool = True) -> int | None:
        """The last year the holiday file covers (officially, by default): for start-up warnings and metrics."""
        last = self.schedule.last_day(official_only=official_only)
        return last.year if last else None

    def is_workday(self, day: date) -> bool:
        """Whether a date is a working day: local overrides, then the holiday file, then Mon–Fri (told)."""
        if day in self.extra_workdays:
            return True
        if day in self.extra_holidays:
            return False
        status = self.schedule.status(day)
        if status is None:
            if self.strict:
                raise CalendarNotCovered(
                    f"no holiday schedule for {day.isoformat()}: put the published schedule in the holiday file")
            if self.on_guess is not None:
                self.on_guess(day, "uncovered")
            return day.weekday() < 5
        if status != "official" and self.on_guess is not None:
            self.on_guess(day, status)
        return self.schedule.is_workday(day)

    def add(self, start: datetime, duration: Duration) -> datetime:
        """The instant `duration` after `start` (clock hours as they are, working days by the calendar)."""
        _require_aware(start)
        if duration.unit is TimeUnit.HOURS:
            return start + timedelta(hours=duration.amount) / self.time_scale
        if self.accelerated:
            return start + _DAY * duration.amount / self.time_scale
        span = _DAY * duration.amount
        if not span:
            return start
        local = start.astimezone(CHINA_TZ)
        end = self._forward(local, span) if span > timedelta(0) else self._backward(local, -span)
        return end.astimezone(start.tzinfo)

    def measure(self, start: datetime, end: datetime, unit: TimeUnit) -> Duration:
        """The policy time from `start` to `end` in `unit` (negative when `end` is earlier): add's inverse."""
        _require_aware(start)
        _require_aware(end)
        if end < start:
            return -self.measure(end, start, unit)
        if unit is TimeUnit.HOURS:
            return Duration.hours((end - start) * self.time_scale / timedelta(hours=1))
        if self.accelerated:
            return Duration.working_days((end - start) * self.time_scale / _DAY)
        return Duration.working_days(self.working_time(start, end) / _DAY)

    def working_time(self, start: datetime, end: datetime) -> timedelta:
        """How much of [start, end) falls on working days (real time, ignoring time_scale)."""
        cursor, end = start.astimezone(CHINA_TZ), end.astimezone(CHINA_TZ)
        total = timedelta(0)
        for _ in range(_MAX_DAYS_SCANNED * 10):
            if cursor >= end:
                return total
            next_midnight = _midnight(cursor) + _DAY
            if self.is_workday(cursor.date()):
                total += min(next_midnight, end) - cursor
            cursor = next_midnight
        raise ValueError("span too long to measure in working days")

    def _forward(self, cursor: datetime, remaining: timedelta) -> datetime:
        for _ in range(_MAX_DAYS_SCANNED):
            next_midnight = _midnight(cursor) + _DAY
            if self.is_workday(cursor.date()):
                available = next_midnight - cursor
                if remaining <= available:
                    return cursor + remaining
                remaining -= available
            cursor = next_midnight
        raise ValueError("no working days found within ten years")

    def _backward(self, cursor: datetime, remaining: timedelta) -> datetime:
        for _ in range(_MAX_DAYS_SCANNED):
            day_start = _midnight(cursor)
            if day_start == cursor:
                day_start -= _DAY
            if self.is_workday(day_start.date()):
                available = cursor - day_start
                if remaining <= available:
                    return cursor - remaining
                remaining -= available
            cursor = day_start
        raise ValueError("no working days found within ten years")


def _midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"datetime {moment.isoformat()} has no time zone")
