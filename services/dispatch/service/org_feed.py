"""Dispatch owns the organisation tree; intake and hotline follow it (`shared.snapshots`): they poll its version
and fetch the whole tree when it moves (an admin edit: a few times a year)."""

from __future__ import annotations

from typing import Any

from services.dispatch.adapters import org_feed
from services.dispatch.service.handlers.common import TOPOLOGY_COUNTER
from shared.uow import UnitOfWork


async def tree_version(*, uow: UnitOfWork) -> int:
    """The stored tree's version (cheap: the followers ask every few seconds)."""
    async with uow:
        return await org_feed.version(uow.session, counter_name=TOPOLOGY_COUNTER)


async def tree(*, uow: UnitOfWork) -> dict[str, Any]:
    """Every unit of the stored tree and the version it belongs to."""
    async with uow:
        version = await org_feed.version(uow.session, counter_name=TOPOLOGY_COUNTER)
        units = await org_feed.units(uow.session)
    return {"version": version, "units": units}
