"""Reading dispatch's configuration files (topology, duties list, SLA policy, escalation chain, categories)
into the pure domain's values. The shipped defaults live in shared/reference/ and shared/democity/."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from services.dispatch.config import DispatchSettings
from services.dispatch.domain.duties import DutiesList
from services.dispatch.domain.escalation import EscalationChain
from services.dispatch.domain.org import OrgTree
from services.dispatch.domain.policy import DispatchPolicy
from services.dispatch.domain.sla import SlaPolicy
from shared import democity
from shared.categories import CategoryTable
from shared.reference import load_reference


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

    text = json.dumps([load_reference("sla", settings.sla_file), load_reference("escalation", settings.escalation_file),
                       settings.time_scale], default=str)  # YAML keys may be bools: keep file order
    return int(hashlib.sha256(text.encode()).hexdigest()[:7], 16)  # 28 bits: the counter column is INTEGER on PostgreSQL


def build_policy(settings: DispatchSettings, org: OrgTree) -> DispatchPolicy:
    """The whole policy from the configured (or shipped) files, checked against the tree."""
    categories = CategoryTable.load(settings.categories_file)
    duties = DutiesList.from_mapping(load_reference("duties", settings.duties_file), catalogue=categories)
    sla = SlaPolicy.from_mapping(load_reference("sla", settings.sla_file))
    chain = EscalationChain.from_mapping(load_reference("escalation", settings.escalation_file))
    return DispatchPolicy(org=org, duties=duties, sla=sla, chain=chain,
                          calendar=sla.calendar(time_scale=settings.time_scale), categories=categories)
