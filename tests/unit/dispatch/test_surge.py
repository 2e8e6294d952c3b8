"""Early warning: an injected spike is flagged, steady traffic and low counts are not."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime

from services.dispatch.domain.surge import SurgeSettings, assess, poisson_tail

HOUR = datetime(2026, 11, 23, 9, tzinfo=UTC)


def test_the_poisson_tail_matches_the_closed_form():
    assert poisson_tail(0, 3.0) == 1.0
    assert math.isclose(poisson_tail(1, 3.0), 1 - math.exp(-3.0))
    assert math.isclose(poisson_tail(3, 2.0), 1 - math.exp(-2) * (1 + 2 + 2), rel_tol=1e-9)


def test_a_spike_of_complaints_in_one_town_is_flagged_with_its_baseline():
    history = [1, 0, 2, 1, 1, 0, 1] * 24  # about one an hour for a week
    surge = assess(area="320612101", category_group="03", window_start=HOUR, count=12, history=history)
    assert surge is not None and surge.count == 12 and 0.8 < surge.baseline < 1.0
    assert surge.p_value < 1e-6 and "12 件" in surge.reason


def test_low_counts_in_a_quiet_place_are_not_flagged():
    assert assess(area="t", category_group="03", window_start=HOUR, count=2, history=[]) is None
    assert assess(area="t", category_group="03", window_start=HOUR, count=4, history=[0] * 168) is None


def test_steady_poisson_traffic_stays_quiet():
    rng = random.Random(20261123)
    settings = SurgeSettings()
    alarms = windows = 0
    for rate in (0.5, 2.0, 6.0):
        counts = [_poisson(rng, rate) for _ in range(168 + 2000)]
        for i in range(168, len(counts)):
            windows += 1
            if assess(area="t", category_group="01", window_start=HOUR, count=counts[i],
                      history=counts[i - 168:i], settings=settings):
                alarms += 1
    assert alarms / windows < 0.003  # alpha is 0.001; the baseline is itself estimated


def _poisson(rng: random.Random, mean: float) -> int:
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
