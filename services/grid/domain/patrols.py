"""Patrol coverage (巡查): who patrolled which grid, for how long, in a period; the seeds' target is 2 h a day."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

DAILY_TARGET = timedelta(hours=2)


@dataclass(frozen=True)
class PatrolSpan:
    worker_id: str
    grid_code: str
    started_at: datetime
    ended_at: datetime | None  # None: still under way


@dataclass(frozen=True)
class Coverage:
    worker_id: str | None  # None: nobody patrolled this grid in the period
    grid_code: str
    patrols: int
    seconds: int
    days: int
    target_seconds: int

    @property
    def met(self) -> bool:
        return self.seconds >= self.target_seconds


def coverage(spans: Iterable[PatrolSpan], *, start: datetime, end: datetime, now: datetime,
             grids: Iterable[str] = ()) -> list[Coverage]:
    """Seconds patrolled per worker and grid inside [start, end); an open patrol counts up to `now`. Each of
    `grids` (the area's) that nobody patrolled in the period follows, with no worker and 0 seconds.

    The target is the daily target times the number of days the period spans (rounded up).
    """
    days = max(1, -(-int((end - start).total_seconds()) // 86400))
    totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for span in spans:
        stop = min(span.ended_at or now, end)
        begin = max(span.started_at, start)
        if stop <= begin:
            continue
        entry = totals[(span.worker_id, span.grid_code)]
        entry[0] += 1
        entry[1] += int((stop - begin).total_seconds())
    target = int(DAILY_TARGET.total_seconds()) * days
    patrolled = {g for _, g in totals}
    return [Coverage(w, g, n, s, days, target) for (w, g), (n, s) in sorted(totals.items())] + [
        Coverage(None, g, 0, 0, days, target) for g in sorted(set(grids) - patrolled)]
