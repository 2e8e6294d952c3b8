"""Early warning: an injected spike is flagged, steady traffic and low counts are not."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

from services.dispatch.adapters import reference
from services.dispatch.config import DispatchSettings
from services.dispatch.domain.org import OrgTree
from services.dispatch.domain.surge import SurgeBars, SurgeSettings, assess, poisson_tail, surge_threshold
from services.dispatch.service import handlers
from shared.events.catalog import EARLY_WARNING_RAISED
from tests.support.dispatch import TZ_TOWN_A, accepted_incident
from tests.unit.dispatch.fake_uow import FakeDispatchUnitOfWork

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


def test_the_threshold_is_the_least_count_the_assessment_flags_against_that_history():
    rng = random.Random(20261203)
    settings = SurgeSettings()
    for rate in (0.0, 0.05, 0.5, 2.0, 6.0, 40.0, 300.0):
        history = [_poisson(rng, rate) for _ in range(168)] if rate < 50 else [int(rate)] * 168
        bar = surge_threshold(history, settings)
        assert assess(area="t", category_group="01", window_start=HOUR, count=bar, history=history) is not None
        for count in range(max(0, bar - 30), bar):
            assert assess(area="t", category_group="01", window_start=HOUR, count=count, history=history) is None


def test_a_history_that_grew_never_lowers_the_threshold():
    rng = random.Random(7)
    for _ in range(50):
        history = [_poisson(rng, 3.0) for _ in range(168)]
        grown = [n + rng.randrange(3) for n in history]
        assert surge_threshold(history) <= surge_threshold(grown)


def test_the_bars_forget_windows_two_hours_older_than_the_newest():
    bars = SurgeBars()
    bars.learn({(HOUR, "t", "01"): 7.0})
    bars.learn({(HOUR + timedelta(hours=2), "t", "01"): 9.0})
    assert bars.bar((HOUR, "t", "01")) == 7.0
    bars.learn({(HOUR + timedelta(hours=3), "t", "01"): math.inf})
    assert bars.bar((HOUR, "t", "01")) == 0 and bars.bar((HOUR + timedelta(hours=3), "t", "01")) == math.inf


async def test_a_window_once_announced_costs_no_further_reads_and_is_announced_once():
    settings = DispatchSettings()
    holder = handlers.PolicyHolder(reference.build_policy(settings, OrgTree.from_units(reference.initial_units(settings))))
    uow = FakeDispatchUnitOfWork()
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    reads = []
    for _ in range(8):  # one a batch, all in one hour: the fifth reaches min_count and is a surge on no history
        event = accepted_incident(town=TZ_TOWN_A, category="030202")
        event = event.model_copy(update={"data": event.data.model_copy(update={"accepted_at": hour})})
        await handlers.handle_incidents_accepted([event], uow=uow, holder=holder)
        reads.append(uow.surges.reads)
    assert reads == [0, 0, 0, 0, 2, 2, 2, 2]  # history and warning read once, at the fifth
    assert [e.type for e in uow.events].count(EARLY_WARNING_RAISED.type) == 1 and len(uow.surges.warnings) == 1
    assert len(uow.orders.rows) == 8

    fresh = handlers.PolicyHolder(holder.policy)  # another process: it looks once, finds the warning, then not
    for _ in range(2):
        event = accepted_incident(town=TZ_TOWN_A, category="030202")
        event = event.model_copy(update={"data": event.data.model_copy(update={"accepted_at": hour})})
        await handlers.handle_incidents_accepted([event], uow=uow, holder=fresh)
    assert uow.surges.reads == 4 and [e.type for e in uow.events].count(EARLY_WARNING_RAISED.type) == 1
