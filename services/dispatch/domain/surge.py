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
from datetime import datetime, timedelta


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


def surge_threshold(history: Sequence[int], settings: SurgeSettings = SurgeSettings(), *,
                    limit: int = 100_000) -> int:
    """The least count `assess` flags against this history. A key's history only grows (counts are only ever
    added), so its baseline and this threshold only rise: a count below the threshold learnt from an earlier
    history is no surge against any later one either. The tail is summed term by term exactly as
    `poisson_tail` sums it, so the answer agrees with `assess` to the bit. Past `limit` (a baseline of
    tens of thousands an hour) it gives up and answers `min_count`: every such count is then assessed."""
    window = list(history)[-settings.history:]
    baseline = max(settings.min_rate, sum(window) / settings.history)
    below, log_term, k = 0.0, -baseline, 0
    while k < limit:
        if k:
            log_term += math.log(baseline) - math.log(k)
        below += math.exp(log_term)
        k += 1  # `below` is now poisson_tail's sum for a count of k
        if k >= settings.min_count and max(0.0, 1.0 - below) < settings.alpha:
            return k
    return settings.min_count


class SurgeBars:
    """Per (window start, area, category group): the count below which that key cannot be a surge, as one
    process learnt it (a history's `surge_threshold`; infinity once the window is announced, as it is
    announced only once). Keys whose total stays below their bar need no history read and no assessment.
    Only what a committed transaction read or wrote is learnt, and windows older than `keep` before the newest
    one seen are forgotten (a late incident for one is simply assessed again)."""

    def __init__(self, keep: timedelta = timedelta(hours=2)) -> None:
        self.keep = keep
        self.bars: dict[tuple[datetime, str, str], float] = {}
        self._newest: datetime | None = None

    def bar(self, key: tuple[datetime, str, str]) -> float:
        return self.bars.get(key, 0)

    def learn(self, bars: dict[tuple[datetime, str, str], float]) -> None:
        if not bars:
            return
        self.bars.update(bars)
        newest = max(window for window, _, _ in bars)
        if self._newest is None or newest > self._newest:
            self._newest = newest
            self.bars = {key: bar for key, bar in self.bars.items() if key[0] >= newest - self.keep}
