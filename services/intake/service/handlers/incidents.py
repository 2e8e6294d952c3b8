"""The one door: each reported incident normalised, validated, located, and accepted, held or rejected."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from services.intake.adapters.orm import Incident
from services.intake.adapters.uow import IntakeUnitOfWork
from services.intake.domain.normalise import (
    IntakeRejected,
    accept,
    emergency_flag,
    held_for_review,
    held_outside_city,
    normalise_report,
    outside_city,
)
from services.intake.service.handlers.common import (
    CONSUMER_REPORTED,
    AddressMatcher,
    Locator,
    Reference,
    count_accepted,
    incident_row,
)
from shared import metrics
from shared.errors import NotFound
from shared.events.catalog import INCIDENT_ACCEPTED, INCIDENT_HELD, EventSpec
from shared.events.envelope import CloudEvent, utcnow
from shared.events.v1 import (
    IncidentReported,
    LocatedBy,
    Location,
)
from shared.scope import Scope

log = logging.getLogger("mcc.intake")


def locate(report: IncidentReported, *, locator: Locator | None,
           places: AddressMatcher | None = None) -> tuple[Location, LocatedBy, float | None]:
    """Where the incident is: grid codes the channel knew, else coordinates, else the address's place names;
    and, for a point outside every grid, how far the nearest grid is."""
    loc = report.location
    if loc.town_code:
        if loc.grid_code is None and loc.coordinates is not None and locator is not None:
            # The channel placed a point outside every grid in its nearest town (grid does): keep its codes,
            # but measure how far out the point is, so that one far outside the city waits for review.
            found = locator.locate(loc.coordinates.lon, loc.coordinates.lat)
            return loc, LocatedBy.GRID, getattr(found, "distance_m", None)
        return loc, LocatedBy.GRID, None
    if loc.coordinates is not None and locator is not None:
        found = locator.locate(loc.coordinates.lon, loc.coordinates.lat)
        located = loc.model_copy(update={"grid_code": found.grid_code, "village_code": found.village_code,
                                         "town_code": found.town_code, "county_code": found.county_code})
        return located, LocatedBy(found.located_by), getattr(found, "distance_m", None)
    if loc.address and places is not None and (match := places.match(loc.address)) is not None:
        located = loc.model_copy(update={"village_code": match.village_code, "town_code": match.town_code,
                                         "county_code": match.county_code})
        return located, LocatedBy.ADDRESS, None
    return loc, LocatedBy.UNLOCATED, None


@dataclass(frozen=True)
class _Decision:
    """What becomes of one reported incident: its row, and the event announcing it (none if rejected)."""

    event_id: str
    report: IncidentReported
    row: dict[str, Any]  # the incident's row, plain values (common.incident_row)
    outcome: str  # accepted | held | rejected
    announce: tuple[EventSpec, BaseModel] | None = None


def _decide(event: CloudEvent[Any], *, locator: Locator | None, reference: Reference,
            places: AddressMatcher | None, now: datetime) -> _Decision:
    raw: IncidentReported = event.data
    category = reference.categories.get(raw.category_code)
    try:
        report = normalise_report(raw, category=category)
    except IntakeRejected as exc:
        # Not dead-lettered: the message is well-formed, the content is not dispatchable. A rejected row keeps
        # the reason where a dispatcher can list it (GET /api/v1/incidents?status=rejected).
        row = incident_row(raw, status="rejected", location=raw.location, located_by=LocatedBy.UNLOCATED, now=now,
                           reason=f"{exc.field}: {exc.message}")
        return _Decision(event.id, raw, row, "rejected")
    location, located_by, distance_m = locate(report, locator=locator, places=places)
    # A nearest-town guess far outside the city (a point in another city, a (0, 0) from a phone without a fix)
    # would send a unit someone else's problem: a person decides instead.
    far = outside_city(distance_m=distance_m, limit_m=reference.outside_city_m,
                       nearest_town=reference.unit_names.get(location.town_code or "", location.town_code))
    if far is not None:
        located = report.model_copy(update={"location": location})
        row = incident_row(located, status="held", location=location, located_by=located_by, now=now,
                           reason=far, keep_report=True)
        return _Decision(event.id, report, row, "held", (INCIDENT_HELD, held_outside_city(located, reason=far)))
    route = reference.policy.route(report.detection) if report.detection is not None else None
    if route is not None and not route.dispatch:
        located = report.model_copy(update={"location": location})
        held = held_for_review(located, route=route)
        row = incident_row(located, status="held", location=location, located_by=located_by, now=now,
                           reason=held.reason, keep_report=True)
        return _Decision(event.id, report, row, "held", (INCIDENT_HELD, held))
    row = incident_row(report, status="accepted", location=location, located_by=located_by, now=now,
                       reason=emergency_flag(report, category))
    accepted = accept(report, location=location, located_by=located_by, accepted_at=now)
    return _Decision(event.id, report, row, "accepted", (INCIDENT_ACCEPTED, accepted))


async def handle_incident_reported(event: CloudEvent[Any], *, uow: IntakeUnitOfWork, locator: Locator | None,
                                   reference: Reference, places: AddressMatcher | None = None) -> None:
    """Accept one reported incident once: validated and located for dispatch, held for review, or rejected."""
    await handle_incidents_reported([event], uow=uow, locator=locator, reference=reference, places=places)


async def handle_incidents_reported(events: Sequence[CloudEvent[Any]], *, uow: IntakeUnitOfWork, locator: Locator | None,
                                    reference: Reference, places: AddressMatcher | None = None) -> None:
    """Accept a batch of reported incidents in one transaction, each once whatever NATS redelivers (the inbox
    holds event ids; an incident republished under another event id is recorded as seen, nothing else)."""
    now = utcnow()
    # Located before the transaction opens: in-process, but it may refuse (no copy of the registry yet).
    decisions = [_decide(e, locator=locator, reference=reference, places=places, now=now) for e in events]
    async with uow:
        first = await uow.first_deliveries(consumer=CONSUMER_REPORTED, event_ids=[d.event_id for d in decisions])
        fresh: dict[str, _Decision] = {}  # by incident id: the first delivery of each incident in the batch
        for decision in decisions:
            if decision.event_id in first:
                fresh.setdefault(decision.report.incident_id, decision)
        # One statement records the new incidents and tells which were new: one recorded before stays as it was.
        recorded = await uow.incidents.add_new([d.row for d in fresh.values()])
        written = [d for d in fresh.values() if d.report.incident_id in recorded]
        for decision in written:
            if decision.announce is not None:
                spec, data = decision.announce
                await uow.emit(spec, data, subject=decision.report.incident_id)
        await uow.commit()
    for decision in written:
        _count(decision)


def _count(decision: _Decision) -> None:
    report = decision.report
    if decision.outcome == "rejected":
        log.warning("incident %s rejected: %s", report.incident_id, decision.row["reason"])
    elif decision.outcome == "held":
        log.warning("incident %s held for review: %s", report.incident_id, decision.row["reason"])
        if report.detection is not None:
            metrics.DETECTIONS.labels("review").inc()
    else:
        count_accepted(report)
        if report.detection is not None:
            metrics.DETECTIONS.labels("dispatched").inc()


async def get_incident(uow: IntakeUnitOfWork, *, incident_id: str, scope: Scope) -> Incident:
    """One incident as intake recorded it, if it lies in the caller's scope (NotFound otherwise, as if absent)."""
    async with uow:
        row = await uow.incidents.get(incident_id)
    if row is None or not scope.covers(county_code=row.county_code, town_code=row.town_code):
        raise NotFound(f"事件 {incident_id} 不存在")
    return row
