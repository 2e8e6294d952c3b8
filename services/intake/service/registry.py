"""Intake's projection of grid's registry: incidents are located in-process, with the same answer as grid's own
lookup (one shared index), from a snapshot kept in intake's database, so neither a grid outage nor a restart
while grid is down stops intake. The copy follows grid's registry version with the shared follower
(`shared.snapshots`): the version is polled (cheap), the snapshot fetched when it moves (an import: rare)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from services.intake.adapters.grid_client import GridLocation, RegistrySnapshot
from services.intake.adapters.orm import GridRegistrySnapshot
from shared.gridindex import GridIndex, IndexedGrid
from shared.messaging import TransientError
from shared.snapshot_store import TableStore
from shared.snapshots import Fixed, Follower, Snapshot
from shared.uow import UnitOfWork

log = logging.getLogger("mcc.intake.registry")


class RegistrySource(Protocol):
    async def registry_version(self) -> int: ...

    async def registry_snapshot(self) -> RegistrySnapshot: ...


class _Feed:
    """Grid's registry feed as a snapshot source."""

    def __init__(self, source: RegistrySource) -> None:
        self.source = source

    async def version(self) -> int:
        return await self.source.registry_version()

    async def snapshot(self) -> Snapshot:
        found = await self.source.registry_snapshot()
        return Snapshot(found.version, found.grids)


def _index(grids: list[dict[str, Any]]) -> GridIndex:
    index = GridIndex([IndexedGrid.from_dict(g) for g in grids])
    log.info("grid registry indexed", extra={"grids": len(index)})
    return index


def follower(*, source: RegistrySource, new_uow: Callable[[], UnitOfWork], poll_s: float) -> Follower[GridIndex]:
    """The job that keeps intake's copy at grid's version (started with the app, stopped with it)."""
    return Follower("grid-registry", source=_Feed(source), build=_index, poll_s=poll_s,
                    store=TableStore(new_uow, GridRegistrySnapshot, items="grids", count="grid_count"))


class RegistryProjection:
    """Locating by the index over intake's copy of the registry; `version` is the copy's (None: no copy yet)."""

    def __init__(self, copy: Follower[GridIndex] | Fixed[GridIndex] | None = None) -> None:
        self.copy = copy

    @property
    def version(self) -> int | None:
        return self.copy.version if self.copy is not None else None

    def locate(self, lon: float, lat: float) -> GridLocation:
        """Where a point is, as grid would answer; with no copy of the registry yet, try again later."""
        index = self.copy.value if self.copy is not None else None
        if index is None:
            raise TransientError("no copy of grid's registry yet: incidents with coordinates wait for grid")
        found = index.locate(lon, lat)
        return GridLocation(found.grid_code, found.village_code, found.town_code, found.county_code,
                            str(found.located_by), found.flagged, found.distance_m)
