"""The stored org tree: loading, replacing and deleting units (each bumps the topology version)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from services.dispatch.adapters.orm import (
    OrgUnitRow,
    WorkOrder,
    metadata,
)
from services.dispatch.domain.lifecycle import (
    OPEN_STATES,
)
from services.dispatch.domain.org import OrgTree
from services.dispatch.service.handlers.common import (
    TOPOLOGY_COUNTER,
)
from shared.counters import next_number
from shared.events.envelope import utcnow
from shared.uow import UnitOfWork


async def load_org(*, uow: UnitOfWork, unless_version: int | None = None) -> tuple[OrgTree | None, int]:
    """The stored tree (None when the table is empty) and the topology version; with `unless_version`, the
    tree is read and built only when the stored version differs (None and that version otherwise): the
    timer loop asks every few seconds, and the tree changes a few times a year."""
    counter = metadata.tables["counter"]
    async with uow:
        version = (await uow.session.execute(select(counter.c.value).where(counter.c.name == TOPOLOGY_COUNTER))
                   ).scalar_one_or_none() or 0
        if unless_version is not None and version == unless_version:
            return None, version
        units = list((await uow.session.execute(select(OrgUnitRow))).scalars())
    return (OrgTree.from_units(units) if units else None), version


async def replace_units(*, uow: UnitOfWork, units: Sequence[Any], replace_all: bool) -> OrgTree:
    """Store units (all of them, or upserts) after validating the resulting tree; OrgTreeError otherwise."""
    now = utcnow()
    async with uow:
        current = {} if replace_all else {u.code: u for u in (await uow.session.execute(select(OrgUnitRow))).scalars()}
        merged = dict(current)
        for unit in units:
            merged[unit.code] = unit
        tree = OrgTree.from_units(merged.values())  # raises before anything is written
        if replace_all:
            await uow.session.execute(OrgUnitRow.__table__.delete())  # type: ignore[attr-defined]
        for unit in units:
            await uow.session.merge(OrgUnitRow(code=unit.code, name=unit.name, kind=str(unit.kind),
                                               parent_code=unit.parent_code, function=getattr(unit, "function", None),
                                               updated_at=now))
        await next_number(uow.session, metadata.tables["counter"], prefix=TOPOLOGY_COUNTER, day="", width=1)
        await uow.commit()
    return tree


async def delete_unit(*, uow: UnitOfWork, code: str) -> OrgTree:
    """Remove a unit that has no children and holds no open order."""
    async with uow:
        rows = {u.code: u for u in (await uow.session.execute(select(OrgUnitRow))).scalars()}
        if code not in rows:
            raise KeyError(code)
        held = (await uow.session.execute(select(func.count()).select_from(WorkOrder).where(
            WorkOrder.unit_code == code, WorkOrder.state.in_([s.value for s in OPEN_STATES])))).scalar_one()
        if held:
            raise ValueError(f"unit {code} holds {held} open orders: reassign them first")
        rest = [u for c, u in rows.items() if c != code]
        tree = OrgTree.from_units(rest)
        await uow.session.delete(rows[code])
        await next_number(uow.session, metadata.tables["counter"], prefix=TOPOLOGY_COUNTER, day="", width=1)
        await uow.commit()
    return tree
