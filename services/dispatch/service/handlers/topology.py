"""The stored org tree: loading, replacing and deleting units (each bumps the topology version). An admin's
edit (`edit_units`, `replace_topology`, `remove_unit`) also moves this process's policy to the new tree; the
others follow at their next topology poll."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.dispatch.adapters.reference import parse_units
from services.dispatch.adapters.unit_of_work import DispatchUnitOfWork
from services.dispatch.domain.lifecycle import (
    OPEN_STATES,
)
from services.dispatch.domain.org import OrgTree, OrgTreeError
from services.dispatch.service.handlers.common import (
    TOPOLOGY_COUNTER,
    PolicyHolder,
)
from shared.errors import Conflict, Invalid, NotFound
from shared.events.envelope import utcnow


def _tree_refused(exc: ValueError) -> Invalid:
    """A tree (or a unit list) that cannot be stored: every problem found, on the body's `units`."""
    problems = getattr(exc, "problems", None) or [str(exc)]
    return Invalid.of([{"field": "units", "in": "body", "message": p, "type": "invalid_topology"} for p in problems])


async def load_org(*, uow: DispatchUnitOfWork, unless_version: int | None = None) -> tuple[OrgTree | None, int]:
    """The stored tree (None when the table is empty) and the topology version; with `unless_version`, the
    tree is read and built only when the stored version differs (None and that version otherwise): the
    timer loop asks every few seconds, and the tree changes a few times a year."""
    async with uow:
        version = await uow.counters.get(TOPOLOGY_COUNTER) or 0
        if unless_version is not None and version == unless_version:
            return None, version
        units = await uow.org_units.all()
    return (OrgTree.from_units(units) if units else None), version


async def replace_units(*, uow: DispatchUnitOfWork, units: Sequence[Any], replace_all: bool) -> OrgTree:
    """Store units (all of them, or upserts) after validating the resulting tree; a 422 naming every problem
    otherwise, before anything is written."""
    now = utcnow()
    async with uow:
        current = {} if replace_all else {u.code: u for u in await uow.org_units.all()}
        merged = dict(current)
        for unit in units:
            merged[unit.code] = unit
        try:
            tree = OrgTree.from_units(merged.values())
        except OrgTreeError as exc:  # the domain lists every fault; the answer names them all
            raise _tree_refused(exc) from exc
        if replace_all:
            await uow.org_units.clear()
        await uow.org_units.put(units, now=now)
        await uow.counters.bump(TOPOLOGY_COUNTER)
        await uow.commit()
    return tree


async def delete_unit(*, uow: DispatchUnitOfWork, code: str) -> OrgTree:
    """Remove a unit that has no children and holds no open order (404 for an unknown one, 409 naming every
    problem the removal would cause)."""
    async with uow:
        rows = {u.code: u for u in await uow.org_units.all()}
        if code not in rows:
            raise NotFound(f"单位 {code} 不存在")
        held = await uow.orders.count_held(code, states=[s.value for s in OPEN_STATES])
        if held:
            raise Conflict(f"单位 {code} 还有 {held} 件在办工单，请先改派 (reassign them first)")
        rest = [u for c, u in rows.items() if c != code]
        try:
            tree = OrgTree.from_units(rest)
        except OrgTreeError as exc:  # e.g. units below it: one message naming every problem
            raise Conflict("; ".join(exc.problems)) from exc
        await uow.org_units.remove(rows[code])
        await uow.counters.bump(TOPOLOGY_COUNTER)
        await uow.commit()
    return tree


async def edit_units(*, uow: DispatchUnitOfWork, holder: PolicyHolder, units: Sequence[Any]) -> OrgTree:
    """Add or change units (an admin's edit); this process routes by the new tree at once."""
    tree = await replace_units(uow=uow, units=units, replace_all=False)
    holder.policy = holder.policy.with_org(tree)
    return tree


async def replace_topology(*, uow: DispatchUnitOfWork, holder: PolicyHolder, data: Any) -> OrgTree:
    """Replace the whole tree with a unit list as parsed from JSON (validated whole first)."""
    try:
        units = parse_units(data)
    except ValueError as exc:  # a row without its code, name or kind
        raise _tree_refused(exc) from exc
    tree = await replace_units(uow=uow, units=units, replace_all=True)
    holder.policy = holder.policy.with_org(tree)
    return tree


async def remove_unit(*, uow: DispatchUnitOfWork, holder: PolicyHolder, code: str) -> OrgTree:
    """Remove an empty unit (an admin's edit); this process routes by the new tree at once."""
    tree = await delete_unit(uow=uow, code=code)
    holder.policy = holder.policy.with_org(tree)
    return tree
