"""重复件: which existing orders a call may duplicate, read by index around the caller and the place."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from services.hotline.adapters.unit_of_work import HotlineUnitOfWork
from services.hotline.domain.duplicates import (
    AppealSnapshot,
    Candidate,
    DuplicatePolicy,
    bounding_box,
    cells_within,
    find_candidates,
)
from services.hotline.service.common import HotlineContext
from shared.errors import Invalid
from shared.events.envelope import utcnow
from shared.events.v1 import Coordinates

CANDIDATE_SCAN_LIMIT = 200  # recent appeals looked at per signal and duplicate check


async def candidates(uow: HotlineUnitOfWork, policy: DuplicatePolicy, *, phone: str | None, category_code: str,
                     point: Coordinates | None, now: datetime, exclude: str | None = None) -> list[dict[str, Any]]:
    """Orders the new appeal may duplicate, as the operator's screen lists them."""
    rows: dict[str, Any] = {}
    if phone:
        for r in await uow.appeals.recent_by_caller(phone=phone, since=now - policy.caller_window,
                                                       limit=CANDIDATE_SCAN_LIMIT):
            rows[r.id] = r
    if point is not None:
        # Cells and a bounding box narrow the read in SQL; the domain measures the real distance.
        for r in await uow.appeals.recent_nearby(
                category_code=category_code, cells=cells_within(point.lon, point.lat, policy.radius_m),
                box=bounding_box(point.lon, point.lat, policy.radius_m), since=now - policy.category_window,
                limit=CANDIDATE_SCAN_LIMIT):
            rows[r.id] = r
    if not rows:
        return []
    new = AppealSnapshot(order_ref=exclude, phone=phone, category_code=category_code, point=point, at=now)
    found = find_candidates(new, [_snapshot(r) for r in rows.values()], policy)
    return _listed(found, await uow.appeals.by_numbers([c.order_ref for c in found]))


@dataclass(frozen=True, kw_only=True)
class DuplicateQuery:
    """One new appeal's duplicate check within a group."""

    phone: str | None
    category_code: str
    point: Coordinates | None
    exclude: str | None = None


async def candidates_for_group(uow: HotlineUnitOfWork, policy: DuplicatePolicy, checks: Sequence[DuplicateQuery | None],
                               rows: Sequence[Any], *, now: datetime) -> list[list[dict[str, Any]]]:
    """The duplicate check of a group of new appeals (`rows`, not yet written) in a fixed number of reads.

    One read by the group's callers, one by its categories' boxes in their cells; each appeal then looks at
    the rows that concern it, and at the group's earlier appeals, as it would have one transaction at a time.
    """
    wanted = [c for c in checks if c is not None]
    if not wanted:
        return [[] for _ in checks]
    caller_since, nearby_since = now - policy.caller_window, now - policy.category_window
    areas = [_Area(c, policy) if c is not None else None for c in checks]
    phones = sorted({c.phone for c in wanted if c.phone})
    on_file: dict[str, Any] = {}
    if phones:
        for r in await uow.appeals.recent_by_callers(phones=phones, since=caller_since,
                                                        limit=CANDIDATE_SCAN_LIMIT * len(phones)):
            on_file[r.id] = r
    placed = [a for a in areas if a is not None and a.box is not None]
    if placed:
        unbounded = any(a.cells is None for a in placed)
        cells = None if unbounded else sorted({cell for a in placed for cell in a.cells or ()})
        for r in await uow.appeals.recent_in_boxes(
                boxes=sorted({(a.check.category_code, a.box) for a in placed}), cells=cells,
                since=nearby_since, limit=CANDIDATE_SCAN_LIMIT * len(wanted)):
            on_file[r.id] = r
    recent = sorted(on_file.values(), key=lambda r: r.created_at, reverse=True)
    # Each check looks only at its caller's rows and its category's rows in its cells (by their rank in
    # `recent`, newest first), and the group's earlier rows likewise (by their place in the group): a group's
    # cost grows with its size, not with its size squared.
    on_file_by = _Ranks(recent)
    earlier_by = _Ranks([])
    earlier: list[Any] = []  # the group's rows, not yet written
    snapshots: dict[str, AppealSnapshot] = {}
    found_by_check: list[list[Candidate]] = []
    for area, row in zip(areas, rows, strict=True):
        found: list[Candidate] = []
        if area is not None:
            check = area.check
            pool = [r for r in (recent[n] for n in on_file_by.near(area)) if area.concerns(r, caller_since,
                                                                                            nearby_since)]
            pool = pool[:CANDIDATE_SCAN_LIMIT] + [
                r for r in (earlier[n] for n in earlier_by.near(area)) if area.concerns(r, caller_since, nearby_since)]
            new = AppealSnapshot(order_ref=check.exclude, phone=check.phone, category_code=check.category_code,
                                 point=check.point, at=now)
            found = find_candidates(new, [snapshots.get(r.id) or snapshots.setdefault(r.id, _snapshot(r))
                                          for r in pool], policy)
        found_by_check.append(found)
        if row.disposition in ("dispatched", "linked"):
            earlier_by.add(row, len(earlier))
            earlier.append(row)
    group = {r.number: r for r in earlier}
    refs = sorted({c.order_ref for found in found_by_check for c in found} - group.keys())
    masters = group | await uow.appeals.by_numbers(refs)
    return [_listed(found, masters) for found in found_by_check]


class _Point(NamedTuple):
    lon: float
    lat: float


class _Area:
    """One check's reach: its caller, and its category within the box (and the cells) around its point."""

    def __init__(self, check: DuplicateQuery, policy: DuplicatePolicy) -> None:
        self.check = check
        point = check.point
        self.box = bounding_box(point.lon, point.lat, policy.radius_m) if point is not None else None
        self.cells = cells_within(point.lon, point.lat, policy.radius_m) if point is not None else None

    def concerns(self, r: Any, caller_since: datetime, nearby_since: datetime) -> bool:
        check = self.check
        if check.phone and r.caller_phone == check.phone and r.created_at >= caller_since:
            return True
        if self.box is None or r.lon is None or r.category_code != check.category_code:
            return False
        west, south, east, north = self.box
        return west <= r.lon <= east and south <= r.lat <= north and r.created_at >= nearby_since


class _Ranks:
    """Rows indexed by caller, by (category, cell) and by category, each to its rank in a list."""

    def __init__(self, rows: Sequence[Any]) -> None:
        self.by_phone: dict[str, list[int]] = {}
        self.by_cell: dict[tuple[str, int], list[int]] = {}
        self.by_category: dict[str, list[int]] = {}
        for rank, r in enumerate(rows):
            self.add(r, rank)

    def add(self, r: Any, rank: int) -> None:
        if r.caller_phone:
            self.by_phone.setdefault(r.caller_phone, []).append(rank)
        if r.lon is not None:
            self.by_cell.setdefault((r.category_code, r.cell), []).append(rank)
            self.by_category.setdefault(r.category_code, []).append(rank)

    def near(self, area: _Area) -> list[int]:
        """The ranks, in order, of the rows of this area's caller, and of its category in or around its cells."""
        check = area.check
        ranks = set(self.by_phone.get(check.phone, ())) if check.phone else set()
        if check.point is not None:
            if area.cells is None:
                ranks.update(self.by_category.get(check.category_code, ()))
            else:
                for cell in [*area.cells, None]:  # None: a row filed before cells were
                    ranks.update(self.by_cell.get((check.category_code, cell), ()))
        return sorted(ranks)


def _snapshot(r: Any) -> AppealSnapshot:
    # A plain (lon, lat) pair, not the contract's Coordinates: validating a model per row cost more than the check.
    return AppealSnapshot(order_ref=r.master_number or r.number, phone=r.caller_phone, category_code=r.category_code,
                          point=_Point(r.lon, r.lat) if r.lon is not None else None, at=r.created_at)


def _listed(found: list[Candidate], masters: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for c in found:
        m = masters.get(c.order_ref)
        if m is None:
            continue
        out.append({"appeal_number": m.number, "order_number": m.order_number, "status": m.status,
                    "category_code": m.category_code, "description": m.description[:120],
                    "reasons": [r.value for r in c.reasons],
                    "distance_m": round(c.distance_m, 1) if c.distance_m is not None else None,
                    "at": c.at.isoformat(), "linked_count": m.linked_count})
    return out


async def find_duplicates(*, uow: HotlineUnitOfWork, ctx: HotlineContext, phone: str | None, category_code: str,
                          point: Coordinates | None) -> list[dict[str, Any]]:
    """Existing orders a call about to be recorded may duplicate (the operator's check before create)."""
    if ctx.categories.get(category_code) is None:
        raise Invalid("category_code", f"诉求分类代码不存在：{category_code!r} (unknown category code)")
    async with uow:
        return await candidates(uow, ctx.duplicates, phone=phone, category_code=category_code, point=point,
                                now=utcnow())
