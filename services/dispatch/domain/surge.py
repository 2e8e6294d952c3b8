"""Early warning (预警预判): a count of incidents in one area × category group in one window, far above what
that area and category usually see. Pure.

Method. Incidents are counted per town × category big class (2 digits) × hour. For the current window the
baseline is the mean count of the same town and class over the previous `history` windows (missing windows
count 0), floored at `min_rate` so a quiet place is not alarmed by its second incident ever. Counts of rare
independent events are close to Poisson, so the window is unusual when, under a Poisson law with the baseline
as its mean, a count at least this high has probability below `alpha` (default 0.001: on steady traffic about
one false alarm per thousand area-category-hours that have any incident at all), and it is at least
`min_count` (default 5). One alert per area, class and window: the same window is never announced twice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class SurgeSettings:
    history: int = 168  # windows of baseline: a week of hours
    alpha: float = 0.001
    min_count: int = 5
    min_rate: float = 0.2


@dataclass(frozen=True)
class Surge:
    area: str
    category_group: str
    window_start: datetime
    count: int
    baseline: float
    p_value: float

    @property
    def reason(self) -> str:
        return (f"{self.count} 件，基线每小时 {self.baseline:.2f} 件 (p={self.p_value:.1e}) — "
                f"{self.count} incidents in the hour against a usual {self.baseline:.2f}")


def poisson_tail(k: int, mean: float) -> float:
    """P(X >= k) for X ~ Poisson(mean), summed in log space so large counts do not overflow."""
    if k <= 0:
        return 1.0
    below = 0.0
    log_term = -mean  # log P(X = 0)
    for i in range(k):
        if i:
            log_term += math.log(mean) - math.log(i)
        below += math.exp(log_term)
    return max(0.0, 1.0 - below)


def assess(*, area: str, category_group: str, window_start: datetime, count: int, history: Sequence[int],
           settings: SurgeSettings = SurgeSettings()) -> Surge | None:
    """A Surge when `count` is unusual against `history` (the previous windows' counts, any length up to
    settings.history; missing windows are zeros), else None."""
    if count < settings.min_count:
        return None
    window = list(history)[-settings.history:]
    baseline = max(settings.min_rate, sum(window) / settings.history)
    p_value = poisson_tail(count, baseline)
    if p_value >= settings.alpha:
        return None
    return Surge(area, category_group, window_start, count, round(baseline, 4), p_value)
