"""Intake's acceptance of reported incidents (the one door) on the in-memory unit of work: accepted and
announced, rejected with its reason, each event once however often NATS delivers it, without a database."""

from __future__ import annotations

import uuid

import pytest

from services.intake.adapters.orm import Incident
from services.intake.service import handlers
from services.intake.service.handlers.common import incident_row
from shared.categories import CategoryTable
from shared.events.catalog import INCIDENT_ACCEPTED, INCIDENT_REPORTED
from shared.events.envelope import utcnow
from shared.events.v1 import Channel, IncidentReported, LocatedBy, Location
from shared.outbox import build_event

from .fakes import FakeIntakeUnitOfWork


def _delivery(category: str = "010201", **extra):
    ref = uuid.uuid4().hex[:16]
    report = IncidentReported(incident_id=f"inc-{ref}", channel=Channel.HOTLINE, source_ref=ref,
                              category_code=category, description="路灯不亮已经一周", reported_at=utcnow(),
                              location=Location(town_code="320613101", county_code="320613"), **extra)
    return build_event(INCIDENT_REPORTED, report, source="/test")


@pytest.fixture
def uow() -> FakeIntakeUnitOfWork:
    return FakeIntakeUnitOfWork()


async def _handle(uow: FakeIntakeUnitOfWork, *events) -> None:
    await handlers.handle_incidents_reported(list(events), uow=uow, locator=None,
                                             reference=handlers.Reference(categories=CategoryTable.load()))


async def test_a_located_report_is_accepted_and_announced_for_dispatch_in_one_commit(uow):
    event = _delivery()
    await _handle(uow, event)
    row = uow.incidents.rows[event.data.incident_id]
    assert row.status == "accepted" and row.town_code == "320613101" and row.located_by == "grid"
    [accepted] = uow.events
    assert accepted.type == INCIDENT_ACCEPTED.type and accepted.subject == event.data.incident_id
    assert accepted.data.location.county_code == "320613" and uow.commits == 1


async def test_a_redelivered_event_or_the_same_incident_again_changes_nothing(uow):
    event = _delivery()
    await _handle(uow, event)
    await _handle(uow, event)  # NATS redelivers the same event
    republished = build_event(INCIDENT_REPORTED, event.data, source="/test")  # the incident under a new event id
    await _handle(uow, republished, republished)
    assert list(uow.incidents.rows) == [event.data.incident_id] and len(uow.events) == 1


async def test_a_report_in_an_unknown_category_is_kept_as_rejected_with_its_reason_and_never_announced(uow):
    bad, good = _delivery(category="999999"), _delivery()
    await _handle(uow, bad, good)
    row = uow.incidents.rows[bad.data.incident_id]
    assert row.status == "rejected" and row.reason.startswith("category_code")
    assert [e.subject for e in uow.events] == [good.data.incident_id]


def test_an_incident_row_carries_every_column_of_the_incident_table():
    # The rows go to one multi-row INSERT as plain values: a column left out would be NULL, silently.
    report = _delivery().data
    row = incident_row(report, status="accepted", location=report.location, located_by=LocatedBy.GRID,
                       now=utcnow())
    assert set(row) == set(Incident.__table__.c.keys())
