"""The early-warning detector's counts and alerts, a batch of (window, area, category group) keys per round
trip: counting used to cost one upsert and one history read per key and batch, a third of dispatch's time.
`SurgeRepository` (`uow.surges`) puts them, and the reading of warnings, on the unit of work."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.adapters.orm import EarlyWarning, IncidentBucket
from shared.db import scope_where, upsert_insert
from shared.scope import EVERYTHING, Scope

Key = tuple[datetime, str, str]  # (window start, area code, category group)
BUCKETS = IncidentBucket.__table__  # type: ignore[attr-defined]
WARNINGS = EarlyWarning.__table__  # type: ignore[attr-defined]
_BUMP: dict[str, Any] = {}  # bump_buckets' statement per dialect


async def bump_buckets(session: AsyncSession, counts: dict[Key, int]) -> dict[Key, int]:
    """Add to the counts of many keys in one upsert; the new totals."""
    if not counts:
        return {}
    # Sorted, so two processes bumping overlapping keys lock them in the same order and never deadlock.
    rows = [{"window_start": w, "area_code": a, "category_group": g, "count": n}
            for (w, a, g), n in sorted(counts.items())]
    # The rows as executemany parameters (sent as one multi-row upsert): a `.values(rows)` statement has no
    # cache key, so SQLAlchemy compiled it afresh for every batch. The statement is built once per dialect:
    # building it (its `excluded` alias above all) cost as much as executing it.
    dialect = session.get_bind().dialect.name
    statement = _BUMP.get(dialect)
    if statement is None:
        insert = upsert_insert(session)(BUCKETS)
        statement = _BUMP.setdefault(dialect, insert.on_conflict_do_update(
            index_elements=["window_start", "area_code", "category_group"],
            set_={"count": BUCKETS.c.count + insert.excluded.count},
        ).returning(BUCKETS.c.window_start, BUCKETS.c.area_code, BUCKETS.c.category_group, BUCKETS.c.count))
    return {(w, a, g): n for w, a, g, n in (await session.execute(statement, rows)).all()}


async def bucket_histories(session: AsyncSession, keys: Iterable[Key], *, windows: int,
                           step: timedelta) -> dict[Key, list[int]]:
    """For each key, the counts of the `windows` windows before it (zeros where nothing came in), in one read."""
    keys = list(keys)
    if not keys:
        return {}
    start = min(w for w, _, _ in keys) - step * windows
    end = max(w for w, _, _ in keys)
    pairs = sorted({(a, g) for _, a, g in keys})
    found: dict[tuple[str, str], dict[datetime, int]] = {}
    for w, a, g, n in (await session.execute(select(
            BUCKETS.c.window_start, BUCKETS.c.area_code, BUCKETS.c.category_group, BUCKETS.c.count).where(
            tuple_(BUCKETS.c.area_code, BUCKETS.c.category_group).in_(pairs),
            BUCKETS.c.window_start >= start, BUCKETS.c.window_start < end))).all():
        found.setdefault((a, g), {})[w] = n
    out = {}
    for window, area, group in keys:
        counts = found.get((area, group), {})
        out[(window, area, group)] = [counts.get(window - step * (windows - i), 0) for i in range(windows)]
    return out


async def warned(session: AsyncSession, keys: Iterable[Key]) -> set[Key]:
    """The keys that already have an alert (one per area, class and window), in one read."""
    keys = list(keys)
    if not keys:
        return set()
    rows = await session.execute(select(WARNINGS.c.window_start, WARNINGS.c.area_code, WARNINGS.c.category_group)
                                 .where(tuple_(WARNINGS.c.area_code, WARNINGS.c.category_group)
                                        .in_(sorted({(a, g) for _, a, g in keys})),
                                        WARNINGS.c.window_start.in_(sorted({w for w, _, _ in keys}))))
    wanted = set(keys)
    return {(w, a, g) for w, a, g in rows.all() if (w, a, g) in wanted}


async def insert_warning(session: AsyncSession, values: dict[str, Any]) -> bool:
    """Record an alert unless this area, class and window already has one; True when it is new."""
    result = await session.execute(upsert_insert(session)(WARNINGS).values(**values).on_conflict_do_nothing(
        index_elements=["window_start", "area_code", "category_group"]))
    return bool(result.rowcount)


class SurgeRepository:
    """The detector's counts and its early warnings (`uow.surges`)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def bump(self, counts: dict[Key, int]) -> dict[Key, int]:
        return await bump_buckets(self.session, counts)

    async def histories(self, keys: Iterable[Key], *, windows: int, step: timedelta) -> dict[Key, list[int]]:
        return await bucket_histories(self.session, keys, windows=windows, step=step)

    async def warned(self, keys: Iterable[Key]) -> set[Key]:
        return await warned(self.session, keys)

    async def add_warning(self, values: dict[str, Any]) -> bool:
        return await insert_warning(self.session, values)

    async def warnings(self, *, since: datetime | None = None, area: str | None = None, scope: Scope = EVERYTHING,
                       limit: int = 100) -> list[EarlyWarning]:
        """Early warnings within a reader's scope (a town's, a county's, the city's), newest first."""
        query = select(EarlyWarning).order_by(EarlyWarning.raised_at.desc()).limit(limit)
        if since:
            query = query.where(EarlyWarning.raised_at >= since)
        if area:
            query = query.where(EarlyWarning.area_code == area)
        visible = scope_where(scope, county=EarlyWarning.county_code, town=EarlyWarning.area_code)
        if visible is not None:
            query = query.where(visible)
        return list((await self.session.execute(query)).scalars())
