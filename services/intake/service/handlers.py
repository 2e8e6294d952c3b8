"""Intake's service layer: the one door. Normalise, locate, publish the accepted incident."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import select

from services.intake.adapters.grid_client import GridLocation
from services.intake.adapters.orm import Incident
from shared.events.catalog import INCIDENT_ACCEPTED
from shared.events.envelope import CloudEvent, utcnow
from shared.events.v1 import IncidentAccepted, IncidentReported, LocatedBy, Location, Urgency
from shared.uow import UnitOfWork

CONSUMER_REPORTED = "intake-reported"


class Locator(Protocol):
    async def locate(self, lon: float, lat: float) -> GridLocation: ...


class AddressMatcher(Protocol):
    def match(self, text: str) -> Any: ...


async def locate(report: IncidentReported, *, locator: Locator,
                 places: AddressMatcher | None = None) -> tuple[Location, LocatedBy]:
    """Where the incident is: grid codes the channel knew, else coordinates, else the address's place names."""
    loc = report.location
    if loc.town_code:
        return loc, LocatedBy.GRID
    if loc.coordinates is not None:
        found = await locator.locate(loc.coordinates.lon, loc.coordinates.lat)
        located = loc.model_copy(update={"grid_code": found.grid_code, "village_code": found.village_code,
                                         "town_code": found.town_code, "county_code": found.county_code})
        return located, LocatedBy(found.located_by)
    if loc.address and places is not None and (match := places.match(loc.address)) is not None:
        located = loc.model_copy(update={"village_code": match.village_code, "town_code": match.town_code,
                                         "county_code": match.county_code})
        return located, LocatedBy.ADDRESS
    return loc, LocatedBy.UNLOCATED


async def handle_incident_reported(event: CloudEvent[Any], *, uow: UnitOfWork, locator: Locator,
                                   places: AddressMatcher | None = None) -> None:
    """Accept one reported incident: record it once and publish it located, for dispatch."""
    report: IncidentReported = event.data
    location, located_by = await locate(report, locator=locator, places=places)  # network: outside the transaction
    async with uow:
        if not await uow.first_delivery(consumer=CONSUMER_REPORTED, event_id=event.id):
            return
        if (await uow.session.execute(select(Incident.id).where(Incident.id == report.incident_id))).first():
            return
        now = utcnow()
        urgency = report.urgency or Urgency.NORMAL
        uow.session.add(Incident(
            id=report.incident_id, channel=report.channel.value, source_ref=report.source_ref,
            appeal_type=report.appeal_type.value, category_code=report.category_code, urgency=urgency.value,
            status="accepted", located_by=located_by.value, grid_code=location.grid_code,
            village_code=location.village_code, town_code=location.town_code, county_code=location.county_code,
            reported_at=report.reported_at, accepted_at=now,
        ))
        accepted = IncidentAccepted(
            **report.model_dump(exclude={"urgency", "location"}), urgency=urgency, location=location,
            located_by=located_by, accepted_at=now,
        )
        await uow.emit(INCIDENT_ACCEPTED, accepted, subject=report.incident_id)
        await uow.commit()


async def get_incident(uow: UnitOfWork, *, incident_id: str) -> Incident | None:
    async with uow:
        return await uow.session.get(Incident, incident_id)
