"""The roles a bearer token can carry, and the unit kinds each belongs to. Pure: the domain layers import it
without pulling in HTTP or JWT."""

from __future__ import annotations

import re
from enum import StrEnum


class Role(StrEnum):
    OPERATOR = "operator"  # 12345 话务员
    TOWN = "town_dispatcher"  # 镇/街道 指挥中心
    COUNTY = "county_dispatcher"  # 县级指挥中心
    CITY = "city_dispatcher"  # 市级指挥中心
    DEPARTMENT = "department"  # 职能部门 handling its own orders
    ADMIN = "admin"  # topology, API keys


# The unit kinds each role may belong to (the door check of every service, and of accounts). Operators sit
# in the city's 12345 centre; an admin administers a command centre (city, county or town) and what is below.
ROLE_UNIT_KINDS: dict[Role, frozenset[str]] = {
    Role.OPERATOR: frozenset({"city"}),
    Role.TOWN: frozenset({"town"}),
    Role.COUNTY: frozenset({"county"}),
    Role.CITY: frozenset({"city"}),
    Role.DEPARTMENT: frozenset({"department"}),
    Role.ADMIN: frozenset({"city", "county", "town"}),
}

_DEPARTMENT = re.compile(r"^(\d{6})-[a-z][a-z0-9_]*$")


def role_fits_kind(role: Role, kind: str | None) -> bool:
    """Whether a role may act for a unit of this kind (None: no such unit)."""
    return kind is not None and kind in ROLE_UNIT_KINDS[role]


def kind_by_code(code: str, *, city_code: str) -> str | None:
    """A unit's kind read from its code (GB/T 2260 county codes, 9-digit town codes, `<centre>-<function>`
    departments) within one city; None for a code that is not a unit of this city. Services without the
    organisation tree use it; dispatch, which owns the tree, asks the tree instead."""
    prefix = city_code[:4]
    department = _DEPARTMENT.match(code)
    if department:
        centre = department.group(1)
        return "department" if centre == city_code or (centre.startswith(prefix) and centre != city_code
                                                       and not centre.endswith("00")) else None
    if not code.isdigit() or not code.startswith(prefix):
        return None
    if code == city_code:
        return "city"
    if len(code) == 6 and not code.endswith("00"):
        return "county"
    if len(code) == 9:
        return "town"
    if len(code) == 12:
        return "village"
    return None
