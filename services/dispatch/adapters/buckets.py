"""The early-warning detector's counts and alerts, a batch of (window, area, category group) keys per round
trip: counting used to cost one upsert and one history read per key and batch, a third of dispatch's time."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.adapters.orm import EarlyWarning, IncidentBucket

Key = tuple[datetime, str, str]  # (window start, area code, category group)
BUCKETS = IncidentBucket.__table__  # type: ignore[attr-defined]
WARNINGS = EarlyWarning.__table__  # type: ignore[attr-defined]


def _insert(session: AsyncSession) -> Any:
    return pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert


async def bump_buckets(session: AsyncSession, counts: dict[Key, int]) -> dict[Key, int]:
    """Add to the counts of many keys in one upsert; the new totals."""
    if not counts:
        return {}
    # Sorted, so two processes bumping overlapping keys lock them in the same order and never deadlock.
    rows = [{"window_start": w, "area_code": a, "category_group": g, "count": n}
            for (w, a, g), n in sorted(counts.items())]
    statement = _insert(session)(BUCKETS).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=["window_start", "area_code", "category_group"],
        set_={"count": BUCKETS.c.count + statement.excluded.count},
    ).returning(BUCKETS.c.window_start, BUCKETS.c.area_code, BUCKETS.c.category_group, BUCKETS.c.count)
    return {(w, a, g): n for w, a, g, n in (await session.execute(statement)).all()}


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
    result = await session.execute(_insert(session)(WARNINGS).values(**values).on_conflict_do_nothing(
        index_elements=["window_start", "area_code", "category_group"]))
    return bool(result.rowcount)
