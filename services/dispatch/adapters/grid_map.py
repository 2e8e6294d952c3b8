"""The city view's map, drawn from grid's registry: town and county outlines from its snapshot.

Grid owns the registry (a city imports its own GeoJSON); dispatch only draws it. The snapshot is fetched when
grid's registry version moves, checked at most every `poll_s` when the map is drawn, and the outlines are
computed off the event loop (about a second for ten thousand grids). While grid is away the last outlines
stay; before the first fetch the map has none and the page still lists every town's figures.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
import shapely

from shared.gridindex import IndexedGrid, area_outlines

log = logging.getLogger("mcc.dispatch.grid_map")


class GridMap:
    """Outlines by unit code, and the box that holds them, kept at grid's registry version."""

    def __init__(self, base_url: str, *, poll_s: float = 60.0, transport: httpx.AsyncBaseTransport | None = None,
                 timeout_s: float = 10.0) -> None:
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), transport=transport, timeout=timeout_s)
        self.poll_s = poll_s
        self.version: int | None = None
        self.outlines: dict[str, shapely.Geometry] = {}
        self.bbox: tuple[float, float, float, float] | None = None
        self._checked = float("-inf")
        self._lock = asyncio.Lock()

    async def current(self) -> tuple[dict[str, shapely.Geometry], tuple[float, float, float, float] | None]:
        """The outlines to draw now (checking grid's version first when the last check is `poll_s` old)."""
        if time.monotonic() - self._checked >= self.poll_s and not self._lock.locked():
            async with self._lock:
                await self._refresh()
        return self.outlines, self.bbox

    async def _refresh(self) -> None:
        self._checked = time.monotonic()
        try:
            version = (await self._client.get("/api/v1/registry/version")).raise_for_status().json()["version"]
            if version == self.version:
                return
            snapshot = (await self._client.get("/api/v1/registry/snapshot")).raise_for_status().json()
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            log.warning("grid registry not reachable for the city map; keeping the last outlines",
                        extra={"error": repr(exc)})
            return
        outlines = await asyncio.to_thread(_outlines, snapshot["grids"])
        self.outlines, self.version = outlines, snapshot["version"]
        self.bbox = shapely.union_all(list(outlines.values())).bounds if outlines else None
        log.info("city map outlines installed", extra={"registry_version": self.version, "areas": len(outlines)})

    async def close(self) -> None:
        await self._client.aclose()


def _outlines(grids: list[dict[str, Any]]) -> dict[str, shapely.Geometry]:
    return area_outlines([IndexedGrid.from_dict(g) for g in grids])
