"""Duplicate appeals (重复件): offer the operator existing orders the new call may be about.

Two signals, each with its own window: the same caller (normalised phone) calling again, and the same
category reported close by. The operator decides; linking is a disposition (appeal.Disposition.LINKED),
never automatic, because two neighbours' leaking pipes are not always one pipe.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from shared.phones import normalise_phone

EARTH_RADIUS_M = 6_371_008.8
METRES_PER_DEGREE_LAT = 111_320.0
# Appeals are filed in cells of 0.01° x 0.01° (about 1.1 km north-south, 0.7-1.0 km east-west in China), so
# "same category nearby in the last days" reads the few cells around a point, not the whole city's category.
CELL_DEG = 0.01
MAX_CELLS = 64  # a radius wider than this many cells is looked up by bounding box alone


class Point(Protocol):
    lon: float
    lat: float


class Reason(StrEnum):
    SAME_CALLER = "same_caller"  # 同一来电人
    SAME_CATEGORY_NEARBY = "same_category_nearby"  # 同类诉求、相近位置


@dataclass(frozen=True)
class DuplicatePolicy:
    """How far back and how far around to look; per-city configuration."""

    caller_window: timedelta = timedelta(days=7)
    radius_m: float = 300.0
    category_window: timedelta = timedelta(days=3)
    limit: int = 10

    def __post_init__(self) -> None:
        if self.caller_window < timedelta(0) or self.category_window < timedelta(0):
            raise ValueError("duplicate windows must not be negative")
        if self.radius_m < 0:
            raise ValueError("duplicate radius must not be negative")


@dataclass(frozen=True, kw_only=True)
class AppealSnapshot:
    """The few facts duplicate detection compares: a new appeal, or a recent one with its order."""

    order_ref: str | None
    phone: str | None
    category_code: str
    point: Point | None
    at: datetime


@dataclass(frozen=True)
class Candidate:
    order_ref: str
    reasons: tuple[Reason, ...]
    distance_m: float | None
    at: datetime


def cell_of(lon: float, lat: float) -> int:
    """The cell a point is filed under: one integer, so an index on (category, cell, time) finds neighbours."""
    return (math.floor(lat / CELL_DEG) + 9_000) * 40_000 + (math.floor(lon / CELL_DEG) + 18_000)


def bounding_box(lon: float, lat: float, radius_m: float) -> tuple[float, float, float, float]:
    """(min lon, min lat, max lon, max lat) of every point within `radius_m` of (lon, lat)."""
    dlat = radius_m / METRES_PER_DEGREE_LAT
    dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
    return lon - dlon, lat - dlat, lon + dlon, lat + dlat


def cells_within(lon: float, lat: float, radius_m: float) -> list[int] | None:
    """Every cell a point within `radius_m` can lie in (None when that would be more than MAX_CELLS)."""
    west, south, east, north = bounding_box(lon, lat, radius_m)
    rows = range(math.floor(south / CELL_DEG), math.floor(north / CELL_DEG) + 1)
    cols = range(math.floor(west / CELL_DEG), math.floor(east / CELL_DEG) + 1)
    if len(rows) * len(cols) > MAX_CELLS:
        return None
    return [(r + 9_000) * 40_000 + (c + 18_000) for r in rows for c in cols]


def haversine_m(a: Point, b: Point) -> float:
    """Great-circle distance in metres between two lon/lat points."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat = lat2 - lat1
    dlon = math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


@functools.lru_cache(maxsize=4096)  # the same recent callers are compared with every new call
def _phone_key(phone: str | None) -> str | None:
    if not phone:
        return None
    try:
        return normalise_phone(phone)
    except ValueError:
        return None  # an unrecognisable number cannot prove two calls came from one caller


def find_candidates(new: AppealSnapshot, recent: Iterable[AppealSnapshot],
                    policy: DuplicatePolicy = DuplicatePolicy()) -> list[Candidate]:
    """Recent orders the new appeal may duplicate: both reasons first, then nearest, then newest."""
    caller = _phone_key(new.phone)
    found: dict[str, Candidate] = {}
    for old in recent:
        if not old.order_ref or old.order_ref == new.order_ref:
            continue
        age = abs(new.at - old.at)
        reasons: list[Reason] = []
        if caller is not None and age <= policy.caller_window and _phone_key(old.phone) == caller:
            reasons.append(Reason.SAME_CALLER)
        distance = haversine_m(new.point, old.point) if new.point is not None and old.point is not None else None
        if (old.category_code == new.category_code and age <= policy.category_window
                and distance is not None and distance <= policy.radius_m):
            reasons.append(Reason.SAME_CATEGORY_NEARBY)
        if not reasons:
            continue
        candidate = Candidate(old.order_ref, tuple(reasons), distance, old.at)
        previous = found.get(old.order_ref)
        # Several appeals may already hang on one order: keep the strongest evidence for it.
        if previous is None or _rank(candidate) < _rank(previous):
            found[old.order_ref] = candidate
    return sorted(found.values(), key=_rank)[: policy.limit]


def _rank(c: Candidate) -> tuple[int, float, float]:
    return (-len(c.reasons), c.distance_m if c.distance_m is not None else math.inf, -c.at.timestamp())
