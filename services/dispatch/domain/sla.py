"""Time limits (时限): the SLA policy, the working-day calendar, pausable clocks and deadline warnings.

Policy. A rule names an area (a unit code or `*`), an appeal type, a category code prefix and an urgency (each
may be left open) and sets a sign-for limit (签收时限), a handling limit (办理时限), or both, each in clock hours
(`2h`) or working days (`3wd`). Each limit is taken from the most specific rule that sets it, compared in this
order: a rule for a named urgency beats one without (urgent matters always get the urgent times); then the
longer category prefix; then a named appeal type; then the smaller area (a county's rule beats the city's
`*`). So an area override must be at least as specific in the other respects as the rule it replaces.

Working days. A working day follows the official Chinese holiday schedule (public holidays and the make-up
working weekends, 调休) from the city's holiday file (`shared/holidays.py`, `shared/reference/holidays.yaml`). Time is counted in China Standard Time (UTC+8). N working days from an
instant is the instant at which N × 24 hours of time on working days have passed:
  - started at 10:00 on a working day, 1 working day ends at 10:00 on the next working day;
  - started on a holiday or weekend, counting begins at 00:00 of the next working day, so Saturday 15:00 + 1
    working day ends at the end of Monday (Tuesday 00:00);
  - an end that falls on a day boundary is the earliest such instant (the end of the working day).
Fractions work the same way (0.5wd = 12 hours of working-day time).

Calendar coverage. The State Council publishes next year's schedule each autumn (usually Oct–Dec); the city
puts it in the holiday file. A year marked provisional there (the statutory days only) is counted by it, and
a date past the file is counted Monday–Friday; either way `on_guess(day, "provisional" | "uncovered")` is
told, so the caller logs and counts it (nothing is guessed silently), and `WorkCalendar(strict=True)` raises
CalendarNotCovered for an uncovered date instead. `sla.yaml`'s `calendar: {holidays, workdays}` lists are local
overrides on top (a city's own day off).

Accelerated time. `time_scale` is policy seconds per real second (3600: one policy hour passes in one real
second). At any scale other than 1, clock hours shrink by the scale and a working day is treated as 24 scaled
hours, without the holiday calendar, so demos and tests can run days of deadlines in seconds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

from shared import holidays
from shared.events.v1 import AppealType, Urgency

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


# --- policy ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """Sign-for and handling limits; None leaves that deadline as it is (or unset on a new order)."""

    sign: Duration | None = None
    handle: Duration | None = None


@dataclass(frozen=True)
class SlaRule:
    area: str = ANY
    appeal_type: str = ANY
    category: str = ""  # a code prefix; "" matches every category
    urgency: str = ANY
    sign: Duration | None = None
    handle: Duration | None = None

    def rank(self, areas: Sequence[str], appeal_type: str, category_code: str, urgency: str) -> tuple | None:
        """How specific the rule is for this order, or None when it does not apply."""
        if self.urgency not in (ANY, urgency) or self.appeal_type not in (ANY, appeal_type):
            return None
        if not category_code.startswith(self.category):
            return None
        if self.area == ANY:
            area_rank = -1
        elif self.area in areas:
            area_rank = list(areas).index(self.area)
        else:
            return None
        return (self.urgency != ANY, len(self.category), self.appeal_type != ANY, area_rank)


@dataclass(frozen=True)
class SlaSettings:
    return_window: Duration = Duration(2, TimeUnit.WORKING_DAYS)  # 退单 allowed within
    extension_max: Duration = Duration(10, TimeUnit.WORKING_DAYS)  # 延期 at most, in all
    yellow_share: float = 0.75  # yellow warning once this share of the time has gone

    def __post_init__(self) -> None:
        if not 0 < self.yellow_share < 1:
            raise ValueError("yellow_share must be between 0 and 1")


class SlaPolicyError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid SLA policy:\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class SlaPolicy:
    rules: tuple[SlaRule, ...]
    settings: SlaSettings = SlaSettings()
    extra_holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()

    @classmethod
    def defaults(cls) -> SlaPolicy:
        """domain.md's common rule: sign 1wd (urgent 2h); consultation 3wd, help/suggestion 5wd, complaint/
        report 10wd, urgent handled within 24h."""
        wd, h = Duration.working_days, Duration.hours
        return cls((
            SlaRule(sign=wd(1), handle=wd(10)),
            SlaRule(urgency="urgent", sign=h(2), handle=h(24)),
            SlaRule(appeal_type="consultation", handle=wd(3)),
            SlaRule(appeal_type="help", handle=wd(5)),
            SlaRule(appeal_type="suggestion", handle=wd(5)),
            SlaRule(appeal_type="complaint", handle=wd(10)),
            SlaRule(appeal_type="report", handle=wd(10)),
        ))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> SlaPolicy:
        """A policy from parsed YAML (`settings`, `rules`, `calendar`); raises SlaPolicyError."""
        problems: list[str] = []
        appeal_types = {a.value for a in AppealType}
        urgencies = {u.value for u in Urgency}
        rules: list[SlaRule] = []
        for index, row in enumerate(data.get("rules") or (), start=1):
            where = f"rule {index}"
            if not isinstance(row, Mapping):
                problems.append(f"{where}: expected a mapping")
                continue
            try:
                rule = SlaRule(
                    area=str(row.get("area", ANY)), appeal_type=str(row.get("appeal_type", ANY)),
                    category=str(row.get("category", "")).replace(ANY, ""), urgency=str(row.get("urgency", ANY)),
                    sign=Duration.parse(row["sign"]) if row.get("sign") is not None else None,
                    handle=Duration.parse(row["handle"]) if row.get("handle") is not None else None,
                )
            except (ValueError, KeyError, TypeError) as exc:
                problems.append(f"{where}: {exc}")
                continue
            if rule.appeal_type not in appeal_types | {ANY}:
                problems.append(f"{where}: unknown appeal_type {rule.appeal_type!r}")
            if rule.urgency not in urgencies | {ANY}:
                problems.append(f"{where}: unknown urgency {rule.urgency!r}")
            if rule.category and not rule.category.isdigit():
                problems.append(f"{where}: category must be a quoted code prefix")
            if rule.sign is None and rule.handle is None:
                problems.append(f"{where}: sets neither sign nor handle")
            for name, limit in (("sign", rule.sign), ("handle", rule.handle)):
                if limit is not None and limit.amount <= 0:
                    problems.append(f"{where}: {name} must be positive")
            rules.append(rule)
        for name in ("sign", "handle"):
            if not any(getattr(r, name) is not None and r.area == ANY and r.appeal_type == ANY
                       and r.category == "" and r.urgency == ANY for r in rules):
                problems.append(f"no catch-all rule (every field open) sets {name}: some orders would get none")
        settings = SlaSettings()
        raw = data.get("settings") or {}
        try:
            settings = SlaSettings(
                return_window=Duration.parse(raw.get("return_window", settings.return_window)),
                extension_max=Duration.parse(raw.get("extension_max", settings.extension_max)),
                yellow_share=float(raw.get("yellow_share", settings.yellow_share)),
            )
        except (ValueError, TypeError, KeyError) as exc:
            problems.append(f"settings: {exc}")
        calendar = data.get("calendar") or {}
        try:
            holidays = frozenset(_as_date(d) for d in calendar.get("holidays") or ())
            workdays = frozenset(_as_date(d) for d in calendar.get("workdays") or ())
        except ValueError as exc:
            problems.append(f"calendar: {exc}")
            holidays = workdays = frozenset()
        if holidays & workdays:
            problems.append(f"calendar: days listed as both holiday and workday: {sorted(holidays & workdays)}")
        if problems:
            raise SlaPolicyError(problems)
        return cls(tuple(rules), settings, holidays, workdays)

    def calendar(self, *, time_scale: float = 1.0, strict: bool = False,
                 schedule: holidays.HolidaySchedule | None = None,
                 on_guess: Callable[[date, str], None] | None = None) -> WorkCalendar:
        """The working-day calendar: the holiday schedule with this policy's local overrides on top."""
        return WorkCalendar(time_scale=time_scale, extra_holidays=self.extra_holidays,
                            extra_workdays=self.extra_workdays, strict=strict,
                            schedule=schedule or holidays.shipped(), on_guess=on_guess)

    def rules_for(self, *, areas: Sequence[str], appeal_type: str, category_code: str,
                  urgency: str) -> tuple[SlaRule | None, SlaRule | None]:
        """The rules that set the sign-for and the handling limit for this order (to explain a deadline)."""
        chosen: list[SlaRule | None] = []
        for name in ("sign", "handle"):
            best: tuple[tuple, SlaRule] | None = None
            for rule in self.rules:
                if getattr(rule, name) is None:
                    continue
                rank = rule.rank(areas, str(appeal_type), category_code, str(urgency))
                if rank is not None and (best is None or rank > best[0]):
                    best = (rank, rule)
            chosen.append(best[1] if best else None)
        return chosen[0], chosen[1]

    def limits(self, *, areas: Sequence[str], appeal_type: str, category_code: str, urgency: str) -> Limits:
        """The sign-for and handling limits for an order; `areas` is its place's chain, city first."""
        sign_rule, handle_rule = self.rules_for(areas=areas, appeal_type=appeal_type,
                                                category_code=category_code, urgency=urgency)
        return Limits(sign_rule.sign if sign_rule else None, handle_rule.handle if handle_rule else None)


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


# --- clocks -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clock:
    """One deadline. While paused (awaiting arbitration) it has no deadline, only the time left, frozen in
    the unit the limit was set in, so a pause over a weekend costs no working time."""

    deadline: datetime | None = None
    unit: TimeUnit = TimeUnit.HOURS
    remaining: Duration | None = None

    @classmethod
    def start(cls, now: datetime, limit: Duration | None, calendar: WorkCalendar) -> Clock:
        """A running clock that ends `limit` after `now`; a stopped one for no limit."""
        if limit is None:
            return cls()
        return cls(calendar.add(now, limit), limit.unit)

    @property
    def paused(self) -> bool:
        return self.remaining is not None

    @property
    def running(self) -> bool:
        return self.deadline is not None

    def pause(self, now: datetime, calendar: WorkCalendar) -> Clock:
        """The clock frozen at `now` (a stopped or paused clock stays as it is)."""
        if self.deadline is None:
            return self
        return Clock(None, self.unit, calendar.measure(now, self.deadline, self.unit))

    def resume(self, now: datetime, calendar: WorkCalendar) -> Clock:
        """The clock running again from `now` with the time it had left."""
        if self.remaining is None:
            return self
        return Clock(calendar.add(now, self.remaining), self.unit)

    def extend(self, by: Duration, calendar: WorkCalendar) -> Clock:
        """The deadline moved later by `by` (an approved 延期); only a running clock has one to move."""
        if self.deadline is None:
            raise ValueError("only a running clock can be extended")
        return Clock(calendar.add(self.deadline, by), self.unit)

    def overdue(self, now: datetime) -> bool:
        return self.deadline is not None and now >= self.deadline


def deadlines(start: datetime, limits: Limits, calendar: WorkCalendar) -> tuple[datetime | None, datetime | None]:
    """The sign-for and handling deadlines for an order dispatched at `start`."""
    sign = calendar.add(start, limits.sign) if limits.sign else None
    handle = calendar.add(start, limits.handle) if limits.handle else None
    return sign, handle


# --- warnings ---------------------------------------------------------------------------------------------------


class WarningLevel(StrEnum):
    YELLOW = "yellow"  # 黄牌预警: most of the time is gone
    RED = "red"  # 红牌: the deadline has come


def warning_due(start: datetime, deadline: datetime, yellow_share: float) -> datetime:
    """When the yellow warning is due: `yellow_share` of the clock time from start to deadline (the red one
    is due at the deadline itself). Clock time, not working time, so it also holds at accelerated time."""
    if not 0 < yellow_share < 1:
        raise ValueError("yellow_share must be between 0 and 1")
    return start + (deadline - start) * yellow_share


def warning_level(start: datetime, deadline: datetime, now: datetime, yellow_share: float) -> WarningLevel | None:
    """The warning an order has reached at `now`, if any."""
    if now >= deadline:
        return WarningLevel.RED
    if now >= warning_due(start, deadline, yellow_share):
        return WarningLevel.YELLOW
    return None


def next_warning(start: datetime | None, deadline: datetime | None, now: datetime, yellow_share: float,
                 sent: Collection[WarningLevel] = ()) -> WarningLevel | None:
    """The highest warning due and not yet sent for this deadline (a skipped yellow is not sent after red)."""
    if start is None or deadline is None:
        return None
    level = warning_level(start, deadline, now, yellow_share)
    if level is None or level in sent or (level is WarningLevel.YELLOW and WarningLevel.RED in sent):
        return None
    return level
