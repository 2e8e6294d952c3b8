"""Which orders a caller may see and act on, as one `shared.scope.Scope` of holding units.

Reading one order (can_act) and listing orders (the repository's SQL) both come from `order_scope`, so a
list never shows what reading the one order would answer 404 for.
"""

from __future__ import annotations

import functools

from services.dispatch.domain.org import OrgTree
from shared.roles import Role, role_fits_kind
from shared.scope import EVERYTHING, NOTHING, Scope

SYSTEM = "system"  # the actor role of timers and consumers


def order_scope(role: str, unit_code: str | None, org: OrgTree) -> Scope:
    """The units whose orders a role at a unit may see: a town its own, a county its county's centre, towns
    and departments, a department its own, the city and the hotline (and the system) all. Admins manage
    topology and accounts, not orders: they see none; nor does a role whose unit does not fit it."""
    if str(role) in (SYSTEM, Role.OPERATOR):
        return EVERYTHING
    return _scope(str(role), unit_code, org)


@functools.lru_cache(maxsize=4096)
def _scope(role: str, unit_code: str | None, org: OrgTree) -> Scope:
    # Cached per tree (a tree is immutable; a policy change builds a new one): a county's units are many.
    try:
        kind = Role(role)
    except ValueError:
        return NOTHING
    unit = org.get(unit_code)
    if unit is None or kind is Role.ADMIN or not role_fits_kind(kind, unit.kind):
        return NOTHING
    if kind is Role.CITY:
        return EVERYTHING
    if kind is Role.DEPARTMENT:
        return Scope(units=frozenset({unit.code}))
    return Scope(units=frozenset(u.code for u in org if org.is_dispatch_target(u.code)
                                 and org.is_within(u.code, unit.code)))
