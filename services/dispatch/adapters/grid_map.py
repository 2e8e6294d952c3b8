"""The city view's map, drawn from grid's registry: town and county outlines from its snapshot.

Grid owns the registry (a city imports its own GeoJSON); dispatch only draws it. The outlines follow grid's
registry version with the shared follower (`shared.snapshots`), a background job of the runtime: the version is
polled every `poll_s`, the snapshot fetched when it moves, and the outlines computed off the event loop (about a
second for ten thousand grids). A page never waits for grid: while grid is away the last outlines stay; before
the first fetch the map has none and the page still lists every town's figures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import shapely

from shared.gridindex import IndexedGrid, area_outlines
from shared.snapshots import Follower, HttpSource

if TYPE_CHECKING:
    from shared.runtime import Runtime

Outlines = tuple[dict[str, shapely.Geometry], tuple[float, float, float, float] | None]


def _outlines(grids: list[dict[str, Any]]) -> Outlines:
    outlines = area_outlines([IndexedGrid.from_dict(g) for g in grids])
    return outlines, (shapely.union_all(list(outlines.values())).bounds if outlines else None)


class GridMap:
    """Outlines by unit code, and the box that holds them, kept at grid's registry version."""

    def __init__(self, base_url: str, *, poll_s: float = 60.0, transport: httpx.AsyncBaseTransport | None = None,
                 timeout_s: float = 10.0) -> None:
        self.source = HttpSource(base_url, version_path="/api/v1/registry/version",
                                 snapshot_path="/api/v1/registry/snapshot", payload_key="grids",
                                 transport=transport, timeout_s=timeout_s)
        # Until grid first answers (it may start after dispatch), ask every few seconds, not every `poll_s`.
        self.follower: Follower[Outlines] = Follower("city-map", source=self.source, build=_outlines, poll_s=poll_s,
                                                     waiting_poll_s=5.0)

    @property
    def version(self) -> int | None:
        return self.follower.version

    async def current(self) -> Outlines:
        """The outlines to draw now (what the follower holds; none before grid first answered)."""
        return self.follower.value or ({}, None)

    async def start(self, runtime: Runtime) -> None:
        await self.follower.start(runtime)

    async def close(self) -> None:
        await self.follower.stop()
        await self.source.close()
