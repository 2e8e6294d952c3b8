"""The stored org tree: loading, replacing and deleting units (each bumps the topology version)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.dispatch.adapters.unit_of_work import DispatchUnitOfWork
from services.dispatch.domain.lifecycle import (
    OPEN_STATES,
)
from services.dispatch.domain.org import OrgTree
from services.dispatch.service.handlers.common import (
    TOPOLOGY_COUNTER,
)
from shared.events.envelope import utcnow


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
    """Store units (all of them, or upserts) after validating the resulting tree; OrgTreeError otherwise."""
    now = utcnow()
    async with uow:
        current = {} if replace_all else {u.code: u for u in await uow.org_units.all()}
        merged = dict(current)
        for unit in units:
            merged[unit.code] = unit
        tree = OrgTree.from_units(merged.values())  # raises before anything is written
        if replace_all:
            await uow.org_units.clear()
        await uow.org_units.put(units, now=now)
        await uow.counters.bump(TOPOLOGY_COUNTER)
        await uow.commit()
    return tree


async def delete_unit(*, uow: DispatchUnitOfWork, code: str) -> OrgTree:
    """Remove a unit that has no children and holds no open order."""
    async with uow:
        rows = {u.code: u for u in await uow.org_units.all()}
        if code not in rows:
            raise KeyError(code)
        held = await uow.orders.count_held(code, states=[s.value for s in OPEN_STATES])
        if held:
            raise ValueError(f"unit {code} holds {held} open orders: reassign them first")
        rest = [u for c, u in rows.items() if c != code]
        tree = OrgTree.from_units(rest)
        await uow.org_units.remove(rows[code])
        await uow.counters.bump(TOPOLOGY_COUNTER)
        await uow.commit()
    return tree
