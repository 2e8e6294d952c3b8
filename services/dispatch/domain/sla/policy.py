"""The SLA policy: rules by area, appeal type, category and urgency; the most specific sets each limit."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from services.dispatch.domain.sla.workdays import (
    ANY,
    Duration,
    TimeUnit,
    WorkCalendar,
)
from shared import holidays
from shared.events.v1 import AppealType, Urgency


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
