"""The county partition of incident and order subjects (shared/events/catalog.py)."""

from __future__ import annotations

import pytest

from shared.events.catalog import (
    APPEAL_DISPOSED,
    INCIDENT_ACCEPTED,
    INCIDENT_HELD,
    INCIDENT_REPORTED,
    NO_COUNTY,
    ORDER_EVENTS,
    STREAMS,
    county_token,
    matches,
)
from tests.support.dispatch import accepted_incident


def test_a_county_code_is_its_own_token_and_no_county_is_none():
    assert county_token("320612") == "320612"
    assert county_token(None) == county_token("") == NO_COUNTY == "_none"


def test_a_code_with_characters_nats_reads_cannot_split_or_widen_a_subject():
    assert county_token("32.06 12>*") == "32_06_12__"


def test_an_accepted_incident_is_published_on_its_county_and_one_outside_the_city_on_none():
    assert INCIDENT_ACCEPTED.subject_for(accepted_incident(town="320612101").data) == "mcc.incident.accepted.320612"
    assert INCIDENT_ACCEPTED.subject_for(accepted_incident(town=None).data) == "mcc.incident.accepted._none"


def test_every_order_and_incident_event_is_partitioned_and_the_others_are_not():
    assert all(spec.partition is not None for spec in ORDER_EVENTS.values())
    assert INCIDENT_HELD.partition is not None
    assert INCIDENT_REPORTED.partition is None and APPEAL_DISPOSED.partition is None
    assert APPEAL_DISPOSED.wildcard == APPEAL_DISPOSED.subject
    assert APPEAL_DISPOSED.filters() == APPEAL_DISPOSED.filters(["320612"]) == ("mcc.hotline.appeal_disposed",)


def test_the_default_filters_take_every_county_and_the_subject_from_before_partitioning():
    filters = INCIDENT_ACCEPTED.filters()
    for subject in ("mcc.incident.accepted", "mcc.incident.accepted.320612", "mcc.incident.accepted._none"):
        assert any(matches(f, subject) for f in filters)
    assert not any(matches(f, "mcc.incident.held.320612") for f in filters)


def test_a_pinned_group_takes_its_counties_only_and_none_takes_the_unpartitioned_too():
    assert INCIDENT_ACCEPTED.filters(["320612", "320613", "320612"]) == (
        "mcc.incident.accepted.320612", "mcc.incident.accepted.320613")
    assert INCIDENT_ACCEPTED.filters([NO_COUNTY]) == ("mcc.incident.accepted", "mcc.incident.accepted._none")
    with pytest.raises(ValueError):
        INCIDENT_ACCEPTED.filters([])


def test_the_streams_hold_the_partitioned_subjects_and_the_old_ones():
    for spec in (INCIDENT_ACCEPTED, INCIDENT_HELD, *ORDER_EVENTS.values()):
        stream = next(s for s in STREAMS if s.name == spec.stream)
        for subject in (spec.subject, f"{spec.subject}.320612", f"{spec.subject}.{NO_COUNTY}"):
            assert any(matches(p, subject) for p in stream.subjects)
