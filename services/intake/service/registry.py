"""Intake's projection of grid's registry: incidents are located in-process, with the same answer as grid's own
lookup (one shared index), from a snapshot kept in intake's database, so neither a grid outage nor a restart
while grid is down stops intake. The snapshot is refreshed when grid's registry version moves (an import:
rare), found by polling the version, which is cheap."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

from services.intake.adapters import registry_store
from services.intake.adapters.grid_client import GridLocation, RegistrySnapshot
from shared.events.envelope import utcnow
from shared.gridindex import GridIndex, IndexedGrid
from shared.messaging import TransientError
from shared.uow import UnitOfWork

log = logging.getLogger("mcc.intake.registry")


class RegistrySource(Protocol):
    async def registry_version(self) -> int: ...

    async def registry_snapshot(self) -> RegistrySnapshot: ...


class RegistryProjection:
    """The lookup index over intake's copy of the registry, and the version it was built from."""

    def __init__(self) -> None:
        self.index: GridIndex | None = None
        self.version: int | None = None

    def locate(self, lon: float, lat: float) -> GridLocation:
        """Where a point is, as grid would answer; with no copy of the registry yet, try again later."""
        index = self.index
        if index is None:
            raise TransientError("no copy of grid's registry yet: incidents with coordinates wait for grid")
        found = index.locate(lon, lat)
        return GridLocation(found.grid_code, found.village_code, found.town_code, found.county_code,
                            str(found.located_by), found.flagged, found.distance_m)

    async def install(self, *, version: int, grids: list[dict[str, Any]]) -> None:
        """Serve this snapshot from now on (the index is built off the event loop: ~10k polygons)."""
        index = await asyncio.to_thread(GridIndex, [IndexedGrid.from_dict(g) for g in grids])
        self.index, self.version = index, version
        log.info("grid registry installed", extra={"registry_version": version, "grids": len(index)})


async def load_stored(*, projection: RegistryProjection, uow: UnitOfWork) -> bool:
    """Install the snapshot intake's database holds, if any (at start-up, before grid is asked)."""
    async with uow:
        row = await registry_store.latest(uow.session)
    if row is None:
        return False
    await projection.install(version=row.version, grids=row.grids)
    return True


async def refresh(*, projection: RegistryProjection, uow: UnitOfWork, source: RegistrySource) -> bool:
    """Fetch, store and install grid's snapshot if its version differs from ours; True if it did."""
    if await source.registry_version() == projection.version:
        return False
    snapshot = await source.registry_snapshot()
    async with uow:  # stored before it is served: a restart finds what this process located with
        await registry_store.replace(uow.session, version=snapshot.version, grids=snapshot.grids, fetched_at=utcnow())
        await uow.commit()
    await projection.install(version=snapshot.version, grids=snapshot.grids)
    return True


async def follow(*, projection: RegistryProjection, new_uow: Callable[[], UnitOfWork], source: RegistrySource,
                 poll_s: float) -> None:
    """Keep the projection at grid's version, for as long as the process runs; grid away is no error."""
    failing = False
    while True:
        try:
            await refresh(projection=projection, uow=new_uow(), source=source)
            if failing:
                log.info("grid registry reachable again", extra={"registry_version": projection.version})
            failing = False
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # grid (or the database) away: keep serving the copy we have
            if not failing:
                log.warning("grid registry not refreshed; locating with the copy at hand",
                            extra={"registry_version": projection.version, "error": repr(exc)})
            failing = True
        # Without any copy, incidents with coordinates are waiting: ask again soon.
        await asyncio.sleep(poll_s if projection.version is not None else min(poll_s, 0.5))
