"""Grid's service layer: locate points, accept grid workers' event reports."""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from services.grid.adapters.orm import GridEvent
from shared.events.catalog import INCIDENT_REPORTED
from shared.events.envelope import utcnow
from shared.events.v1 import Channel, Coordinates, IncidentReported, Location, Reporter
from shared.uow import UnitOfWork


class Located(Protocol):
    grid_code: str | None
    village_code: str | None
    town_code: str | None
    county_code: str | None
    located_by: str
    flagged: bool


class Index(Protocol):
    def locate(self, lon: float, lat: float) -> Any: ...


async def report_event(*, uow: UnitOfWork, index: Index, category_code: str, description: str, lon: float,
                       lat: float, reporter_id: str, reporter_name: str | None = None) -> GridEvent:
    """Record a grid worker's report and send it up (上报) as an incident, in one transaction."""
    found = index.locate(lon, lat)
    now = utcnow()
    async with uow:
        event = GridEvent(
            id=str(uuid.uuid4()), incident_id=str(uuid.uuid4()), category_code=category_code,
            description=description, lon=lon, lat=lat, grid_code=found.grid_code, village_code=found.village_code,
            town_code=found.town_code, county_code=found.county_code, state="escalated", reporter_id=reporter_id,
            created_at=now, updated_at=now,
        )
        uow.session.add(event)
        report = IncidentReported(
            incident_id=event.incident_id, channel=Channel.GRID, source_ref=event.id, category_code=category_code,
            description=description, reported_at=now,
            location=Location(coordinates=Coordinates(lon=lon, lat=lat), grid_code=found.grid_code,
                              village_code=found.village_code, town_code=found.town_code,
                              county_code=found.county_code),
            reporter=Reporter(id=reporter_id, name=reporter_name, role="grid_worker"),
        )
        await uow.emit(INCIDENT_REPORTED, report, subject=event.incident_id)
        await uow.commit()
        return event


async def get_event(uow: UnitOfWork, *, event_id: str) -> GridEvent | None:
    async with uow:
        return await uow.session.get(GridEvent, event_id)
