"""Which incidents a caller may see: one `shared.scope.Scope` for reading one, listing and reviewing."""

from __future__ import annotations

from dataclasses import replace

from shared.roles import Role
from shared.scope import Scope, area_scope, principal_area_scope


def incident_scope(role: Role, unit_code: str, kind: str | None) -> Scope:
    """A dispatcher sees the incidents placed in their area (another's answer 404, as if they did not exist);
    the city everything. A county (its dispatchers and its admin) also reviews what could not be placed at
    all; the admin of a unit reviews detections of its area as the dispatchers do."""
    scope = area_scope(unit_code, kind) if role is Role.ADMIN else principal_area_scope(role, unit_code, kind)
    if role in (Role.COUNTY, Role.ADMIN) and kind == "county":
        scope = replace(scope, unplaced=True)
    return scope
