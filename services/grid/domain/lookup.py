"""Coordinates → grid → village → town → county, through a shapely STRtree.

Rules: a point inside a dedicated grid belongs to it (专属网格 lie inside comprehensive grids); a point on a
shared boundary gets one deterministic answer: dedicated before comprehensive, then the lowest grid code; a point
outside every grid goes to the nearest grid's town, with no grid, flagged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shapely import STRtree, points, polygons


@dataclass(frozen=True)
class Located:
    grid_code: str | None
    village_code: str | None
    town_code: str | None
    county_code: str | None
    located_by: str  # coordinates | nearest_town
    flagged: bool
    distance_m: float | None = None


class GridIndex:
    def __init__(self, grids: Sequence[Any]) -> None:
        self.grids = list(grids)
        self.tree = STRtree(polygons([list(g.polygon) for g in self.grids]))
        # Rank used to break ties deterministically: dedicated first, then lowest code.
        self._rank = {i: (0 if g.kind == "dedicated" else 1, g.code) for i, g in enumerate(self.grids)}

    @classmethod
    def build(cls, grids: Sequence[Any]) -> GridIndex:
        return cls(grids)

    def locate(self, lon: float, lat: float) -> Located:
        """Where a point is (see the module docstring for the rules)."""
        point = points(lon, lat)
        hits = self.tree.query(point, predicate="intersects")
        if len(hits):
            g = self.grids[min(hits, key=lambda i: self._rank[int(i)])]
            return Located(g.code, g.village_code, g.town_code, g.county_code, "coordinates", False)
        nearest = int(self.tree.nearest(point))
        g = self.grids[nearest]
        degrees = self.tree.geometries[nearest].distance(point)
        metres = degrees * 111_320 * math.cos(math.radians(lat))
        return Located(None, None, g.town_code, g.county_code, "nearest_town", True, round(metres, 1))
