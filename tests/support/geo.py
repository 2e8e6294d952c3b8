"""Points of the demo city for tests: inside a grid, on an edge two grids share."""

from __future__ import annotations

from typing import Any

from shared.democity import grids


def inside(grid: Any, fx: float = 0.1, fy: float = 0.1) -> dict[str, float]:
    """A point inside a (rectangular) demo grid; the lower-left corner quarter is outside its dedicated grids."""
    (x0, y0), (x1, _), (_, y1) = grid.polygon[0], grid.polygon[1], grid.polygon[2]
    return {"lon": x0 + (x1 - x0) * fx, "lat": y0 + (y1 - y0) * fy}


def northern_edge(grid: Any) -> tuple[dict[str, float], str]:
    """A point on the edge `grid` shares with the comprehensive grid north of it, and the lower of the two codes
    (the one a lookup must answer on a shared edge)."""
    (x0, _), (x1, _), (_, top) = grid.polygon[0], grid.polygon[1], grid.polygon[2]
    for other in grids():
        (ox0, oy0), (ox1, _) = other.polygon[0], other.polygon[1]
        if other.kind == "comprehensive" and oy0 == top and max(x0, ox0) < min(x1, ox1):
            lon = max(x0, ox0) + (min(x1, ox1) - max(x0, ox0)) * 0.05
            return {"lon": lon, "lat": top}, min(grid.code, other.code)
    raise LookupError(f"grid {grid.code} has no northern neighbour")


def first_grid_point(town: str = "320613101") -> dict[str, float]:
    """A point inside the first comprehensive grid of `town` (default 和平桥街道, 崇川区: downtown Nantong)."""
    return inside(next(g for g in grids() if g.town_code == town and g.kind == "comprehensive"))


def side_by_side(town: str) -> tuple[Any, Any]:
    """Two comprehensive grids of `town`, the second right east of the first along their whole height."""
    own = [g for g in grids() if g.town_code == town and g.kind == "comprehensive"]
    west_edges = {(g.polygon[0], g.polygon[3]): g for g in own}
    for g in own:
        east = west_edges.get((g.polygon[1], g.polygon[2]))
        if east is not None:
            return g, east
    raise LookupError(f"town {town} has no two grids side by side")
