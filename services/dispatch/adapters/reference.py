"""Reading dispatch's configuration files (topology, duties list, SLA policy, escalation chain, categories)
into the pure domain's values. The shipped defaults live in shared/reference/ and shared/democity/."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from services.dispatch.config import DispatchSettings
from services.dispatch.domain.duties import DutiesList
from services.dispatch.domain.escalation import EscalationChain
from services.dispatch.domain.org import OrgTree
from services.dispatch.domain.policy import DispatchPolicy
from services.dispatch.domain.sla import CHINA_TZ, SlaPolicy, WorkCalendar
from shared import democity, holidays, metrics
from shared.categories import CategoryTable
from shared.reference import load_reference

log = logging.getLogger("mcc.dispatch.calendar")
CALENDAR_WARN_DAYS = 60  # the published schedule should be in the file two months before it is needed


@dataclass(frozen=True)
class UnitRecord:
    code: str
    name: str
    kind: str
    parent_code: str | None = None
    function: str | None = None


def parse_units(data: Any) -> list[UnitRecord]:
    """Unit records from parsed YAML/JSON: a list, or {units: [...]}; ValueError naming the bad row."""
    rows = data.get("units") if isinstance(data, dict) else data
    if not isinstance(rows, list):
        raise ValueError("expected a list of units or {units: [...]}")
    out = []
    for index, row in enumerate(rows):
        if not isinstance(row, dict) or not all(isinstance(row.get(k), str) and row.get(k) for k in ("code", "name", "kind")):
            raise ValueError(f"unit {index}: code, name and kind are required strings")
        out.append(UnitRecord(str(row["code"]), str(row["name"]), str(row["kind"]),
                              row.get("parent_code") or row.get("parent") or None, row.get("function") or None))
    return out


def read_structured(path: str | Path) -> Any:
    text = Path(path).read_text(encoding="utf-8")
    return json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)


def initial_units(settings: DispatchSettings) -> list[UnitRecord]:
    """The topology to load into an empty database: the configured file, else the demo city."""
    if settings.topology_file:
        return parse_units(read_structured(settings.topology_file))
    return parse_units(democity.units_as_dicts())


def timer_fingerprint(settings: DispatchSettings) -> int:
    """A number that changes whenever what the timer schedules by changes: the SLA file (settings, calendar,
    limits), the escalation chain, the time scale. Dispatch compares it at start with the one stored."""
    import hashlib

    holiday_file = Path(settings.holidays_file) if settings.holidays_file else holidays.DEFAULT_PATH
    text = json.dumps([load_reference("sla", settings.sla_file), load_reference("escalation", settings.escalation_file),
                       settings.time_scale, holiday_file.read_text(encoding="utf-8")], default=str)  # YAML keys may be bools: keep file order
    return int(hashlib.sha256(text.encode()).hexdigest()[:7], 16)  # 28 bits: the counter column is INTEGER on PostgreSQL


def build_policy(settings: DispatchSettings, org: OrgTree) -> DispatchPolicy:
    """The whole policy from the configured (or shipped) files, checked against the tree."""
    categories = CategoryTable.load(settings.categories_file)
    duties = DutiesList.from_mapping(load_reference("duties", settings.duties_file), catalogue=categories)
    sla = SlaPolicy.from_mapping(load_reference("sla", settings.sla_file))
    chain = EscalationChain.from_mapping(load_reference("escalation", settings.escalation_file))
    calendar = sla.calendar(time_scale=settings.time_scale, schedule=holidays.load(settings.holidays_file),
                            on_guess=GuessReport().told)
    return DispatchPolicy(org=org, duties=duties, sla=sla, chain=chain, calendar=calendar, categories=categories)


class GuessReport:
    """Working days counted without a published schedule: counted in a metric, and logged once per year and
    kind (a deadline walks the calendar day by day; one line per day would drown the log)."""

    def __init__(self) -> None:
        self.logged: set[tuple[int, str]] = set()

    def told(self, day: date, kind: str) -> None:
        metrics.WORKING_DAYS_GUESSED.labels(kind).inc()
        if (day.year, kind) not in self.logged:
            self.logged.add((day.year, kind))
            how = ("its provisional statutory days only, no 调休" if kind == "provisional"
                   else "Monday to Friday, no holidays")
            log.warning("working days in %s are counted by %s: put the State Council's published schedule in the "
                        "holiday file (MCC_DISPATCH_HOLIDAYS_FILE)", day.year, how,
                        extra={"year": day.year, "kind": kind})


def watch_calendar(calendar: WorkCalendar, *, today: date | None = None) -> None:
    """Expose how far ahead the holiday schedule reaches, and warn now if it is less than 60 days."""
    def days_left(official_only: bool) -> int:
        return calendar.schedule.days_left(datetime.now(CHINA_TZ).date(), official_only=official_only)

    metrics.HOLIDAY_CALENDAR_DAYS_LEFT.labels("official").set_function(lambda: days_left(True))
    metrics.HOLIDAY_CALENDAR_DAYS_LEFT.labels("any").set_function(lambda: days_left(False))
    today = today or datetime.now(CHINA_TZ).date()
    left = calendar.schedule.days_left(today, official_only=True)
    if left < CALENDAR_WARN_DAYS:
        last = calendar.schedule.last_day(official_only=True)
        log.warning("the official holiday schedule ends %s (%d days from now); later working days are counted by "
                    "a provisional year or Monday to Friday: put the published schedule in the holiday file "
                    "(MCC_DISPATCH_HOLIDAYS_FILE)", last, left, extra={"days_left": left})
