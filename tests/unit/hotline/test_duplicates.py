from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from services.hotline.domain.duplicates import (
    AppealSnapshot,
    DuplicatePolicy,
    Reason,
    find_candidates,
    haversine_m,
)

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@dataclass(frozen=True)
class P:
    lon: float
    lat: float


HERE = P(121.1800, 32.3100)


def north(metres: float) -> P:
    return P(HERE.lon, HERE.lat + metres / 111_195)


def snap(ref, *, phone=None, category="0301", point=None, ago=timedelta(hours=1)):
    return AppealSnapshot(order_ref=ref, phone=phone, category_code=category, point=point, at=NOW - ago)


NEW = AppealSnapshot(order_ref=None, phone="+86 138 1234 1234", category_code="0301", point=HERE, at=NOW)
POLICY = DuplicatePolicy(caller_window=timedelta(days=7), radius_m=300, category_window=timedelta(days=3))


def test_haversine_measures_a_degree_of_latitude_as_about_111_km():
    assert haversine_m(P(121.0, 32.0), P(121.0, 33.0)) == pytest.approx(111_195, rel=1e-3)
    assert haversine_m(HERE, north(250)) == pytest.approx(250, rel=1e-3)


def test_the_same_caller_within_the_window_is_offered_whatever_the_number_format():
    found = find_candidates(NEW, [snap("GD1", phone="138-1234-1234", category="0999", ago=timedelta(days=6))],
                            POLICY)
    assert [(c.order_ref, c.reasons) for c in found] == [("GD1", (Reason.SAME_CALLER,))]
    assert found[0].distance_m is None


def test_the_same_caller_outside_the_window_is_not_offered():
    assert find_candidates(NEW, [snap("GD1", phone="13812341234", ago=timedelta(days=8))], POLICY) == []


def test_the_same_category_nearby_and_recent_is_offered_with_its_distance():
    found = find_candidates(NEW, [snap("GD2", phone="13900000000", point=north(120))], POLICY)
    assert found[0].reasons == (Reason.SAME_CATEGORY_NEARBY,)
    assert found[0].distance_m == pytest.approx(120, abs=1)


@pytest.mark.parametrize("old", [
    snap("GD3", point=north(400)),  # too far
    snap("GD3", point=north(50), category="0302"),  # another category
    snap("GD3", point=north(50), ago=timedelta(days=4)),  # too old for the category window
    snap("GD3", point=None),  # no coordinates to compare
])
def test_what_is_far_other_old_or_unplaced_is_not_a_category_duplicate(old):
    assert find_candidates(NEW, [old], POLICY) == []


def test_candidates_with_both_reasons_come_first_then_nearest_then_newest():
    recent = [
        snap("near-old", point=north(50), ago=timedelta(days=2)),
        snap("near-new", point=north(50), ago=timedelta(hours=2)),
        snap("nearest", point=north(10), ago=timedelta(days=2)),
        snap("both-far", phone="13812341234", point=north(280), ago=timedelta(days=1)),
        snap("caller-only", phone="13812341234", category="0999", ago=timedelta(minutes=5)),
    ]
    found = find_candidates(NEW, recent, POLICY)
    assert [c.order_ref for c in found] == ["both-far", "nearest", "near-new", "near-old", "caller-only"]
    assert found[0].reasons == (Reason.SAME_CALLER, Reason.SAME_CATEGORY_NEARBY)


def test_several_appeals_on_one_order_make_one_candidate_with_the_strongest_evidence():
    recent = [snap("GD9", point=north(200)), snap("GD9", phone="13812341234", point=north(20))]
    found = find_candidates(NEW, recent, POLICY)
    assert len(found) == 1
    assert found[0].reasons == (Reason.SAME_CALLER, Reason.SAME_CATEGORY_NEARBY)
    assert found[0].distance_m == pytest.approx(20, abs=1)


def test_an_appeal_without_an_order_yet_or_with_an_unreadable_number_does_not_match_by_caller():
    recent = [snap(None, phone="13812341234"), snap("GD5", phone="not a phone")]
    new = AppealSnapshot(order_ref=None, phone="not a phone", category_code="0301", point=None, at=NOW)
    assert find_candidates(NEW, recent, POLICY) == []
    assert find_candidates(new, recent, POLICY) == []


def test_the_policy_is_configurable_and_limits_the_list():
    recent = [snap(f"GD{i}", point=north(i * 10)) for i in range(1, 30)]
    found = find_candidates(NEW, recent, DuplicatePolicy(radius_m=105, limit=5))
    assert [c.order_ref for c in found] == ["GD1", "GD2", "GD3", "GD4", "GD5"]
    assert len(find_candidates(NEW, recent, DuplicatePolicy(radius_m=105, limit=50))) == 10
    with pytest.raises(ValueError):
        DuplicatePolicy(radius_m=-1)
