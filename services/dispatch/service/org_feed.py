"""Dispatch owns the organisation tree; intake and hotline follow it (`shared.snapshots`): they poll its version
and fetch the whole tree when it moves (an admin edit: a few times a year)."""

from __future__ import annotations

from typing import Any

from services.dispatch.adapters.unit_of_work import DispatchUnitOfWork
from services.dispatch.service.handlers.common import TOPOLOGY_COUNTER


async def tree_version(*, uow: DispatchUnitOfWork) -> int:
    """The stored tree's version (cheap: the followers ask every few seconds; 0 before the first tree)."""
    async with uow:
        return await uow.counters.get(TOPOLOGY_COUNTER) or 0


async def tree(*, uow: DispatchUnitOfWork) -> dict[str, Any]:
    """Every unit of the stored tree and the version it belongs to, read in one transaction (a tree newer than
    the version answered is fetched again at the follower's next poll: harmless)."""
    async with uow:
        version = await uow.counters.get(TOPOLOGY_COUNTER) or 0
        units = sorted(await uow.org_units.all(), key=lambda u: u.code)
    return {"version": version, "units": [
        {"code": u.code, "name": u.name, "kind": u.kind, "parent_code": u.parent_code, "function": u.function}
        for u in units]}
