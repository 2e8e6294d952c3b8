"""Event states as a table, patrol coverage arithmetic, photo sniffing, key scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.grid.domain.patrols import PatrolSpan, coverage
from services.grid.domain.photos import photo_type
from services.grid.domain.scope import within
from services.grid.domain.states import ALLOWED, EventState, TransitionRefused, follow_order, transition
from shared.attachments import sniff


def test_a_pending_event_may_only_be_resolved_on_the_spot_or_escalated():
    assert ALLOWED[EventState.PENDING] == {EventState.RESOLVED_ON_SPOT, EventState.ESCALATED}
    assert transition(EventState.PENDING, EventState.ESCALATED) is EventState.ESCALATED
    with pytest.raises(TransitionRefused, match="cannot become resolved_on_spot"):
        transition(EventState.ESCALATED, EventState.RESOLVED_ON_SPOT)
    with pytest.raises(TransitionRefused):
        transition(EventState.REPORTED, EventState.ESCALATED)


def test_resolved_on_the_spot_is_final_and_every_state_is_in_the_table():
    assert ALLOWED[EventState.RESOLVED_ON_SPOT] == frozenset()
    assert set(ALLOWED) == set(EventState)


def test_an_event_follows_its_order_but_not_backwards_into_nonsense():
    assert follow_order(EventState.REPORTED, "dispatched") is EventState.DISPATCHED
    assert follow_order(EventState.DISPATCHED, "signed") is EventState.SIGNED
    assert follow_order(EventState.CLOSED, "dispatched") is EventState.DISPATCHED  # 重办 reopened
    assert follow_order(EventState.SIGNED, "return_requested") is EventState.SIGNED
    assert follow_order(EventState.PENDING, "dispatched") is EventState.PENDING
    assert follow_order(EventState.ARCHIVED, "signed") is EventState.ARCHIVED


def test_coverage_clips_patrols_to_the_period_and_compares_with_two_hours_a_day():
    day = datetime(2026, 11, 20, tzinfo=UTC)
    spans = [PatrolSpan("w1", "g1", day - timedelta(hours=1), day + timedelta(hours=1)),  # half inside
             PatrolSpan("w1", "g1", day + timedelta(hours=5), day + timedelta(hours=5, minutes=30)),
             PatrolSpan("w2", "g1", day + timedelta(hours=23), None),  # open: counts up to now
             PatrolSpan("w3", "g2", day + timedelta(days=2), day + timedelta(days=2, hours=3))]  # after
    rows = coverage(spans, start=day, end=day + timedelta(days=1), now=day + timedelta(hours=23, minutes=30))
    assert [(c.worker_id, c.patrols, c.seconds, c.met) for c in rows] == [("w1", 2, 5400, False),
                                                                          ("w2", 1, 1800, False)]
    week = coverage(spans[:1], start=day, end=day + timedelta(days=7), now=day)
    assert week[0].target_seconds == 7 * 2 * 3600


def test_coverage_lists_the_grids_nobody_patrolled_after_those_patrolled():
    day = datetime(2026, 11, 20, tzinfo=UTC)
    spans = [PatrolSpan("w1", "g1", day + timedelta(hours=1), day + timedelta(hours=3)),
             PatrolSpan("w3", "g2", day + timedelta(days=2), day + timedelta(days=2, hours=3))]  # not this day
    rows = coverage(spans, start=day, end=day + timedelta(days=1), now=day + timedelta(days=3),
                    grids=["g3", "g1", "g2"])
    assert [(c.worker_id, c.grid_code, c.seconds, c.met) for c in rows] == [
        ("w1", "g1", 7200, True), (None, "g2", 0, False), (None, "g3", 0, False)]


@pytest.mark.parametrize(("head", "kind"), [
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"), (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png"),
    (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"), (b"GIF89a\x01\x00", None), (b"%PDF-1.7", None),
    (b"RIFF\x10\x00\x00\x00WAVEfmt ", None), (b"", None)])
def test_photos_are_recognised_by_their_first_bytes(head, kind):
    assert photo_type(sniff(head)) == kind


def test_a_scope_covers_its_own_town_or_county_only():
    assert within(None, town_code="320613101", county_code="320613")
    assert within("320613", town_code="320613101", county_code="320613")
    assert within("320613101", town_code="320613101", county_code="320613")
    assert not within("320613101", town_code="320613102", county_code="320613")
    assert not within("320613101", town_code=None, county_code=None)
