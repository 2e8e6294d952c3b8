"""Who may see what, as one value: a caller's reads and actions are limited to a `Scope`.

A scope is everything, nothing, or a set of places (counties, towns) and units (the unit holding a record).
Every service derives it once from the caller (a signed-in role at its unit, or an integration key's scope
unit) and asks `covers` for one record; repositories turn the same value into SQL (`shared.db.scope_where`),
so a list can never show what reading the one record would answer 404 for. Pure: domains may import it.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.roles import Role


@dataclass(frozen=True)
class Scope:
    everything: bool = False
    counties: frozenset[str] = frozenset()
    towns: frozenset[str] = frozenset()
    units: frozenset[str] = frozenset()
    unplaced: bool = False  # records that could not be placed at all (no county): a county reviews them

    @property
    def nothing(self) -> bool:
        return not (self.everything or self.counties or self.towns or self.units or self.unplaced)

    def covers(self, *, county_code: str | None = None, town_code: str | None = None,
               unit_code: str | None = None) -> bool:
        """Whether a record at this place (or held by this unit) lies inside the scope."""
        return self.everything or (county_code is not None and county_code in self.counties) \
            or (town_code is not None and town_code in self.towns) \
            or (unit_code is not None and unit_code in self.units) \
            or (self.unplaced and county_code is None and town_code is None and unit_code is None)


EVERYTHING = Scope(everything=True)
NOTHING = Scope()


def area_scope(unit_code: str | None, kind: str | None) -> Scope:
    """The places a unit answers for: the whole city, its county, its town; nothing for any other kind."""
    if unit_code is None or kind == "city":
        return EVERYTHING
    if kind == "county":
        return Scope(counties=frozenset({unit_code}))
    if kind == "town":
        return Scope(towns=frozenset({unit_code}))
    return NOTHING


def principal_area_scope(role: Role, unit_code: str, kind: str | None) -> Scope:
    """The places a signed-in caller may see records of (incidents, grid events, patrols): the hotline and
    the city everything; a county or town dispatcher their area; departments (which see the orders they
    hold, in dispatch) and admins (who manage topology and keys) none."""
    if role in (Role.OPERATOR, Role.CITY):
        return EVERYTHING if kind == "city" else NOTHING
    if (role, kind) in ((Role.COUNTY, "county"), (Role.TOWN, "town")):
        return area_scope(unit_code, kind)
    return NOTHING


def key_scope(scope_unit: str | None) -> Scope:
    """What an integration key's scope unit allows: None is the whole city, else the county or town it names
    (a code is one or the other, so it may stand in both sets)."""
    if scope_unit is None:
        return EVERYTHING
    return Scope(counties=frozenset({scope_unit}), towns=frozenset({scope_unit}))
