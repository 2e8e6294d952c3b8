"""What an integration key's scope allows: a key scoped to a county or a town reports only inside it."""

from __future__ import annotations

from shared.scope import key_scope


def within(scope_unit: str | None, *, town_code: str | None, county_code: str | None) -> bool:
    """True when a place (its town and county) lies inside the scope; None scope is the whole city."""
    return key_scope(scope_unit).covers(town_code=town_code, county_code=county_code)
