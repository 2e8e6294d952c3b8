"""Duties list (权责清单 / 准入清单) and routing: category × location → the unit that owns the matter.

A rule says: for a category code (or any code under a prefix) in an area (a unit code, or `*` for everywhere),
the responsible party is `town` (属地), `county`, `city`, `department:<function>` (the county's department of
that function) or `department:<function>@city` (the city's). Villages and communities are never responsible:
a task that belongs to a department must not be pushed down to a village or community committee (准入清单),
and a town hands its own work to villages and grids itself. A rule that names them is refused on load.

Which rule wins: the longest matching category prefix; among those, the smallest matching area (a town's rule
beats its county's, which beats `*`). A rule about a narrower matter beats a rule about a narrower place, so an
area override must name the matter at least as precisely as the rule it overrides. Two rules that tie and
name different owners are a conflict: the order goes to the county's queue for a person to route (属地兜底),
as does a matter nobody owns or a location that is unknown. With no county known, the city's queue takes it.

The category table's declared owners (shared/reference/categories.yaml) are the catalogue's default rules for
area `*`; the duties list (duties.yaml) adds area rules and corrections. A duties rule with the same category
and area as a catalogue rule replaces it: the published duties list is the authority.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from services.dispatch.domain.org import OrgTree, Tier, UnitKind

ANY_AREA = "*"
_PLACE_KINDS = frozenset({UnitKind.CITY, UnitKind.COUNTY, UnitKind.TOWN, UnitKind.VILLAGE, UnitKind.COMMUNITY})


class OwnerKind(StrEnum):
    TOWN = "town"
    COUNTY = "county"
    CITY = "city"
    DEPARTMENT = "department"


@dataclass(frozen=True)
class Owner:
    """A responsibility as the duties list writes it: `town`, `county`, `city`, `department:water[@city]`."""

    kind: OwnerKind
    function: str | None = None
    city_level: bool = False

    @classmethod
    def parse(cls, text: str) -> Owner:
        """The owner a rule names; ValueError (with the 准入清单 rule) for villages and unknown kinds."""
        text = str(text).strip()
        if text in ("village", "community", "village_committee"):
            raise ValueError(f"{text!r} cannot be responsible: matters are never pushed down to a village or "
                             "community committee (准入清单); name the town or a department")
        if text in (OwnerKind.TOWN, OwnerKind.COUNTY, OwnerKind.CITY):
            return cls(OwnerKind(text))
        if text.startswith("department:"):
            function, _, level = text.removeprefix("department:").partition("@")
            if function.isidentifier() and level in ("", "city", "county"):
                return cls(OwnerKind.DEPARTMENT, function, level == "city")
        raise ValueError(f"unknown owner {text!r}: use town, county, city, department:<function>[@city]")

    def __str__(self) -> str:
        if self.kind is OwnerKind.DEPARTMENT:
            return f"department:{self.function}{'@city' if self.city_level else ''}"
        return self.kind.value


@dataclass(frozen=True)
class DutyRule:
    category: str  # a category code or prefix; "" matches every category
    area: str  # a unit code, or "*" for everywhere
    owner: Owner
    source: str = "duties"  # duties | catalogue
    note: str | None = None

    def matches_category(self, code: str) -> bool:
        return code.startswith(self.category)


class CategoryLike(Protocol):
    """What routing reads from a category (shared.categories.Category fits)."""

    code: str


class CatalogueRow(Protocol):
    """A category row whose declared owner becomes a default rule (shared.categories.Category fits)."""

    code: str
    duty_owner: str
    declares_owner: bool


class DutiesError(ValueError):
    """The duties list is wrong; `problems` lists every faulty rule."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid duties list:\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Match:
    """The rules that decide a category in an area: one owner, several (a conflict) or none."""

    rules: tuple[DutyRule, ...]

    @property
    def owners(self) -> tuple[Owner, ...]:
        return tuple(dict.fromkeys(r.owner for r in self.rules))

    @property
    def conflict(self) -> bool:
        return len(self.owners) > 1

    @property
    def owner(self) -> Owner | None:
        owners = self.owners
        return owners[0] if len(owners) == 1 else None


@dataclass(frozen=True)
class DutiesList:
    rules: tuple[DutyRule, ...]

    @classmethod
    def from_rules(cls, rules: Iterable[DutyRule], *, catalogue: Iterable[CatalogueRow] = ()) -> DutiesList:
        """The list from rules, under the catalogue's default rules (which a rule with the same key replaces)."""
        explicit = tuple(rules)
        keys = {(r.category, r.area) for r in explicit}
        defaults = tuple(
            DutyRule(c.code, ANY_AREA, Owner.parse(c.duty_owner), source="catalogue")
            for c in catalogue if c.declares_owner and (c.code, ANY_AREA) not in keys
        )
        return cls(defaults + explicit)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | Sequence[Mapping[str, Any]], *,
                     catalogue: Iterable[CatalogueRow] = ()) -> DutiesList:
        """The list from parsed YAML (`rules:` of {category, area, owner, note}); raises DutiesError."""
        rows = data.get("rules", ()) if isinstance(data, Mapping) else data
        problems: list[str] = []
        rules: list[DutyRule] = []
        for index, row in enumerate(rows or (), start=1):
            where = f"rule {index}"
            if not isinstance(row, Mapping):
                problems.append(f"{where}: expected a mapping, got {row!r}")
                continue
            category = row.get("category", "")
            area = row.get("area", ANY_AREA)
            if not isinstance(category, str) or not (category == "" or category == "*" or category.isdigit()):
                problems.append(f"{where}: category must be a quoted code prefix or '*', got {category!r}")
                continue
            if not isinstance(area, str) or not area.strip():
                problems.append(f"{where}: area must be a quoted unit code or '*', got {area!r}")
                continue
            try:
                owner = Owner.parse(row.get("owner", ""))
            except ValueError as exc:
                problems.append(f"{where} ({category} in {area}): {exc}")
                continue
            rules.append(DutyRule("" if category == "*" else category, area.strip(), owner, "duties",
                                  row.get("note")))
        if problems:
            raise DutiesError(problems)
        return cls.from_rules(rules, catalogue=catalogue)

    def problems(self, *, org: OrgTree | None = None, category_codes: Iterable[str] | None = None) -> list[str]:
        """What a loaded list gets wrong against a tree and a category table: unknown areas and categories,
        and departments no tier has. Empty when all is well."""
        out: list[str] = []
        codes = set(category_codes) if category_codes is not None else None
        functions = {u.function for u in org if u.kind is UnitKind.DEPARTMENT} if org is not None else None
        for rule in self.rules:
            label = f"{rule.source} rule {rule.category or '*'} in {rule.area}"
            if org is not None and rule.area != ANY_AREA and rule.area not in org:
                out.append(f"{label}: unknown area")
            if org is not None and rule.area != ANY_AREA and rule.area in org \
                    and org.require(rule.area).kind not in _PLACE_KINDS:
                out.append(f"{label}: the area must be a place (city, county, town), not a department")
            if codes is not None and rule.category and not any(c.startswith(rule.category) for c in codes):
                out.append(f"{label}: no category has this code or prefix")
            if functions is not None and rule.owner.function and rule.owner.function not in functions:
                out.append(f"{label}: no tier has a department for {rule.owner.function}")
        return out

    def match(self, category_code: str, areas: Sequence[str]) -> Match:
        """The winning rules for a category at a place; `areas` is the place's chain, city first."""
        depth = {code: i for i, code in enumerate(areas)}
        best: tuple[int, int] | None = None
        winners: list[DutyRule] = []
        for rule in self.rules:
            if not rule.matches_category(category_code):
                continue
            if rule.area == ANY_AREA:
                area_rank = -1
            elif rule.area in depth:
                area_rank = depth[rule.area]
            else:
                continue
            rank = (len(rule.category), area_rank)
            if best is None or rank > best:
                best, winners = rank, [rule]
            elif rank == best:
                winners.append(rule)
        return Match(tuple(winners))


@dataclass(frozen=True)
class Routing:
    """Where an order goes: a unit to dispatch to, or a queue (queue=True) for a person to route."""

    unit_code: str | None
    tier: Tier | None
    reason: str
    queue: bool
    owner: Owner | None = None
    rules: tuple[DutyRule, ...] = field(default=())


def route(category: str | CategoryLike, location_codes: Iterable[str | None], org: OrgTree,
          duties: DutiesList) -> Routing:
    """The owning unit for a category at a location, or the county's (else the city's) dispatch queue."""
    code = category if isinstance(category, str) else category.code
    place, problem = _place(location_codes, org)
    county = org.county_of(place) if place else None
    if problem:
        return _queue(org, county, problem)
    assert place is not None
    match = duties.match(code, org.chain(place))
    if not match.rules:
        return _queue(org, county, f"权责清单未列明分类 {code} 的责任单位 (no owner in the duties list)")
    if match.conflict:
        owners = "、".join(str(o) for o in match.owners)
        return _queue(org, county, f"权责清单对分类 {code} 的责任单位有冲突: {owners} (conflicting owners)",
                      rules=match.rules)
    owner = match.owner
    assert owner is not None
    if owner.kind is OwnerKind.CITY:
        return Routing(org.city_code, Tier.CITY, f"分类 {code} 由市级办理", False, owner, match.rules)
    if owner.kind is OwnerKind.COUNTY:
        if county is None:
            return _queue(org, None, f"分类 {code} 由县级办理，但位置不到县 (location above county level)")
        return Routing(county, Tier.COUNTY, f"分类 {code} 由县级办理", False, owner, match.rules)
    if owner.kind is OwnerKind.TOWN:
        town = org.town_of(place)
        if town is None:
            return _queue(org, county, f"分类 {code} 属地办理，但位置不到镇街 (town unknown)", rules=match.rules)
        return Routing(town, Tier.TOWN, f"分类 {code} 属地办理 (territorial)", False, owner, match.rules)
    return _to_department(code, owner, county, org, match.rules)


def _to_department(code: str, owner: Owner, county: str | None, org: OrgTree,
                   rules: tuple[DutyRule, ...]) -> Routing:
    function = owner.function or ""
    if owner.city_level:
        dept = org.department(function, at=org.city_code)
        if dept is None:
            return _queue(org, county, f"市级无 {function} 部门 (no city {function} department)", rules=rules)
        return Routing(dept.code, Tier.CITY, f"分类 {code} 由市级职能部门 {dept.name} 办理", False, owner, rules)
    if county is None:
        return _queue(org, None, f"分类 {code} 由县级职能部门办理，但位置不到县 (county unknown)", rules=rules)
    dept = org.department(function, at=county)
    if dept is not None:
        return Routing(dept.code, Tier.COUNTY, f"分类 {code} 由县级职能部门 {dept.name} 办理", False, owner, rules)
    # Some functions exist only at city level; the city's department then covers the county.
    dept = org.department(function, at=org.city_code)
    if dept is not None:
        return Routing(dept.code, Tier.CITY, f"县级无 {function} 部门，由市级 {dept.name} 办理", False, owner, rules)
    return _queue(org, county, f"县、市均无 {function} 部门 (no {function} department)", rules=rules)


def _place(location_codes: Iterable[str | None], org: OrgTree) -> tuple[str | None, str | None]:
    """The most precise known place among the codes, or a problem when none is known or they disagree."""
    known = [c for c in dict.fromkeys(c for c in location_codes if c) if c in org
             and org.require(c).kind in _PLACE_KINDS]
    if not known:
        return None, "位置不明 (unknown location)"
    deepest = max(known, key=org.depth)
    chain = set(org.chain(deepest))
    if any(c not in chain for c in known):
        counties = {org.county_of(c) for c in known}
        common = counties.pop() if len(counties) == 1 else None
        return common, f"位置编码互相矛盾: {', '.join(known)} (location codes disagree)"
    return deepest, None


def _queue(org: OrgTree, county: str | None, reason: str, *, rules: tuple[DutyRule, ...] = ()) -> Routing:
    if county is not None:
        return Routing(county, Tier.COUNTY, f"{reason}；转县级派单队列 (属地兜底)", True, None, rules)
    return Routing(org.city_code, Tier.CITY, f"{reason}；转市级派单队列", True, None, rules)
