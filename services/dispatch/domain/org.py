"""The organisation tree: city → county (县/区) → town (镇/街道) → village/community (村/社区), with functional
departments (职能部门) beside the city and each county.

Orders are held by command centres (the city, county and town units themselves) and by departments; villages
and communities are places, not dispatch targets: a town hands work to its villages and grids itself.

A department sits under the tier it belongs to. Its upper tier is that tier's command centre (a county water
bureau answers to the county centre, which arbitrates its returns and takes its escalated orders); the
centre's upper tier is the next centre up.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class UnitKind(StrEnum):
    CITY = "city"  # 市
    COUNTY = "county"  # 县/区
    TOWN = "town"  # 镇/街道
    VILLAGE = "village"  # 村
    COMMUNITY = "community"  # 社区
    DEPARTMENT = "department"  # 职能部门


class Tier(StrEnum):
    """The three dispatching tiers: 镇级一线处置, 县级实战指挥, 市级统揽全局."""

    TOWN = "town"
    COUNTY = "county"
    CITY = "city"


DISPATCH_KINDS = frozenset({UnitKind.CITY, UnitKind.COUNTY, UnitKind.TOWN, UnitKind.DEPARTMENT})
CENTRE_KINDS = frozenset({UnitKind.CITY, UnitKind.COUNTY, UnitKind.TOWN})
_PARENT_KINDS: dict[UnitKind, frozenset[UnitKind]] = {
    UnitKind.COUNTY: frozenset({UnitKind.CITY}),
    UnitKind.TOWN: frozenset({UnitKind.COUNTY}),
    UnitKind.VILLAGE: frozenset({UnitKind.TOWN}),
    UnitKind.COMMUNITY: frozenset({UnitKind.TOWN}),
    UnitKind.DEPARTMENT: frozenset({UnitKind.CITY, UnitKind.COUNTY}),
}


class UnitLike(Protocol):
    """Any unit record (shared.democity.Unit fits): `function` only matters for departments."""

    code: str
    name: str
    kind: str
    parent_code: str | None


@dataclass(frozen=True)
class OrgUnit:
    code: str
    name: str
    kind: UnitKind
    parent_code: str | None
    function: str | None = None


class OrgTreeError(ValueError):
    """The unit records do not form a valid tree; `problems` lists every fault found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid organisation tree:\n  " + "\n  ".join(problems))
        self.problems = problems


class OrgTree:
    """A validated, immutable unit tree. Build it with `OrgTree.from_units`."""

    def __init__(self, units: dict[str, OrgUnit], city_code: str) -> None:
        self._units = units
        self.city_code = city_code
        self._children: dict[str, list[str]] = {}
        self._departments: dict[tuple[str, str], str] = {}
        for unit in units.values():
            if unit.parent_code is not None:
                self._children.setdefault(unit.parent_code, []).append(unit.code)
            if unit.kind is UnitKind.DEPARTMENT and unit.function and unit.parent_code:
                self._departments[(unit.parent_code, unit.function)] = unit.code

    @classmethod
    def from_units(cls, records: Iterable[UnitLike]) -> OrgTree:
        """A tree from unit records; raises OrgTreeError when codes, parents, kinds or functions are wrong."""
        problems: list[str] = []
        units: dict[str, OrgUnit] = {}
        for record in records:
            code = str(record.code)
            try:
                kind = UnitKind(str(record.kind))
            except ValueError:
                problems.append(f"unit {code}: unknown kind {record.kind!r}")
                continue
            if code in units:
                problems.append(f"unit {code}: code appears twice")
                continue
            function = getattr(record, "function", None)
            units[code] = OrgUnit(code, str(record.name), kind, record.parent_code or None, function or None)
        cities = [u for u in units.values() if u.kind is UnitKind.CITY]
        if len(cities) != 1:
            problems.append(f"the tree needs exactly one city unit, found {len(cities)}")
        seen_departments: set[tuple[str, str]] = set()
        for unit in units.values():
            if unit.kind is UnitKind.CITY:
                if unit.parent_code is not None:
                    problems.append(f"unit {unit.code}: the city has no parent")
                continue
            parent = units.get(unit.parent_code) if unit.parent_code else None
            if parent is None:
                problems.append(f"unit {unit.code}: parent {unit.parent_code!r} does not exist")
            elif parent.kind not in _PARENT_KINDS[unit.kind]:
                problems.append(f"unit {unit.code}: a {unit.kind} cannot sit under a {parent.kind} ({parent.code})")
            if unit.kind is UnitKind.DEPARTMENT:
                if not unit.function:
                    problems.append(f"unit {unit.code}: a department needs a function")
                elif (unit.parent_code or "", unit.function) in seen_departments:
                    problems.append(f"unit {unit.code}: a second {unit.function} department under {unit.parent_code}")
                else:
                    seen_departments.add((unit.parent_code or "", unit.function))
        if problems:
            raise OrgTreeError(problems)
        return cls(units, cities[0].code)

    # --- look-ups -------------------------------------------------------------------------------------------

    def get(self, code: str | None) -> OrgUnit | None:
        return self._units.get(code) if code is not None else None

    def require(self, code: str) -> OrgUnit:
        """The unit, or KeyError naming the unknown code."""
        unit = self._units.get(code)
        if unit is None:
            raise KeyError(f"unknown unit {code!r}")
        return unit

    def __contains__(self, code: object) -> bool:
        return code in self._units

    def __iter__(self) -> Iterator[OrgUnit]:
        return iter(self._units.values())

    def __len__(self) -> int:
        return len(self._units)

    def parent(self, code: str) -> OrgUnit | None:
        return self.get(self.require(code).parent_code)

    def children(self, code: str) -> tuple[OrgUnit, ...]:
        return tuple(self._units[c] for c in self._children.get(code, ()))

    def ancestors(self, code: str) -> tuple[OrgUnit, ...]:
        """Parent, grandparent, ... up to the city (nearest first), without the unit itself."""
        out: list[OrgUnit] = []
        unit = self.parent(code)
        while unit is not None:
            out.append(unit)
            unit = self.get(unit.parent_code)
        return tuple(out)

    def chain(self, code: str) -> tuple[str, ...]:
        """The codes from the city down to `code` (city first, `code` last): the areas a rule may name."""
        return (*(u.code for u in reversed(self.ancestors(code))), code)

    def depth(self, code: str) -> int:
        """0 for the city, 1 for a county or city department, 2 for a town, ..."""
        return len(self.ancestors(code))

    def _nearest(self, code: str, kind: UnitKind) -> str | None:
        unit = self.require(code)
        if unit.kind is kind:
            return unit.code
        return next((u.code for u in self.ancestors(code) if u.kind is kind), None)

    def county_of(self, code: str) -> str | None:
        """The county a unit lies in (itself for a county; None for the city and city departments)."""
        return self._nearest(code, UnitKind.COUNTY)

    def town_of(self, code: str) -> str | None:
        """The town a unit lies in (itself for a town; None above the town tier)."""
        return self._nearest(code, UnitKind.TOWN)

    def tier_of(self, code: str) -> Tier | None:
        """The dispatching tier of a unit: a department counts in the tier it sits under; None for a village."""
        unit = self.require(code)
        if unit.kind is UnitKind.DEPARTMENT:
            unit = self.require(unit.parent_code or "")
        return {UnitKind.TOWN: Tier.TOWN, UnitKind.COUNTY: Tier.COUNTY, UnitKind.CITY: Tier.CITY}.get(unit.kind)

    def department(self, function: str, *, at: str) -> OrgUnit | None:
        """The department with `function` under the county or city `at`, if that tier has one."""
        return self.get(self._departments.get((at, function)))

    def is_within(self, code: str, area_code: str) -> bool:
        """True when `code` is `area_code` or lies below it (a county's departments lie within the county)."""
        if code == area_code:
            return code in self._units
        return code in self._units and any(u.code == area_code for u in self.ancestors(code))

    def upper_tier(self, code: str) -> OrgUnit | None:
        """The command centre above a unit: town → its county, county → the city, a department → the centre
        of its own tier (county or city); None for the city, which is the top."""
        unit = self.require(code)
        if unit.kind is UnitKind.CITY:
            return None
        parent = self.get(unit.parent_code)
        while parent is not None and parent.kind not in CENTRE_KINDS:
            parent = self.get(parent.parent_code)
        return parent

    def is_upper_tier_of(self, centre_code: str, code: str) -> bool:
        """True when `centre_code` is a county or city centre strictly above `code` (it may arbitrate, approve
        and urge for it)."""
        centre = self.get(centre_code)
        if centre is None or centre.kind not in (UnitKind.COUNTY, UnitKind.CITY) or centre_code == code:
            return False
        return self.is_within(code, centre_code)

    def is_dispatch_target(self, code: str) -> bool:
        """Orders go to command centres and departments, never to a village or community committee."""
        unit = self.get(code)
        return unit is not None and unit.kind in DISPATCH_KINDS
