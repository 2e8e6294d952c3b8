"""The review queue (待核实): held incidents (doubtful detections, points outside the city) a person approves
for dispatch or rejects, with the reason."""

from __future__ import annotations

from sqlalchemy import or_, select

from services.intake.adapters.orm import Incident
from services.intake.domain.normalise import (
    accept,
)
from services.intake.service.handlers.common import (
    MAX_QUEUE,
    Conflict,
    Forbidden,
    NotFound,
    count_accepted,
)
from shared import metrics
from shared.events.catalog import INCIDENT_ACCEPTED
from shared.events.envelope import utcnow
from shared.events.v1 import (
    IncidentReported,
    LocatedBy,
)
from shared.roles import Role
from shared.uow import UnitOfWork


def _may_review(role: Role, unit_code: str, incident: Incident) -> bool:
    # The city reviews everything; a county reviews what lies in it, and what could not be placed at all.
    if role in (Role.CITY, Role.ADMIN):
        return True
    return role is Role.COUNTY and incident.county_code in (unit_code, None)


async def list_incidents(uow: UnitOfWork, *, status: str, role: Role, unit_code: str,
                         limit: int = MAX_QUEUE) -> list[Incident]:
    """Held (or rejected) incidents this dispatcher may see, oldest first."""
    async with uow:
        query = select(Incident).where(Incident.status == status)
        if role is Role.COUNTY:
            query = query.where(or_(Incident.county_code == unit_code, Incident.county_code.is_(None)))
        rows = (await uow.session.execute(query.order_by(Incident.accepted_at).limit(limit))).scalars().all()
        return list(rows)


async def approve_held(uow: UnitOfWork, *, incident_id: str, role: Role, unit_code: str,
                       reviewer: str) -> Incident:
    """A person confirmed the detection: accept it and publish it for dispatch."""
    async with uow:
        row = await uow.session.get(Incident, incident_id, with_for_update=True)
        if row is None:
            raise NotFound(incident_id)
        if not _may_review(role, unit_code, row):
            raise Forbidden(f"{unit_code} does not review incidents in {row.county_code}")
        if row.status != "held" or row.report is None:
            raise Conflict(f"incident {incident_id} is {row.status}, not held for review")
        report = IncidentReported.model_validate(row.report)
        now = utcnow()
        accepted = accept(report, location=report.location, located_by=LocatedBy(row.located_by), accepted_at=now)
        row.status, row.reviewed_by, row.reviewed_at, row.report = "accepted", reviewer, now, None
        row.reason = f"人工核实通过 (approved by {reviewer})"
        await uow.emit(INCIDENT_ACCEPTED, accepted, subject=incident_id)
        await uow.commit()
    count_accepted(report)
    if report.detection is not None:
        metrics.DETECTIONS.labels("approved").inc()
    return row


async def reject_held(uow: UnitOfWork, *, incident_id: str, role: Role, unit_code: str, reviewer: str,
                      reason: str) -> Incident:
    """A person found the report false or not the city's: it is never dispatched; the reason stays on record."""
    async with uow:
        row = await uow.session.get(Incident, incident_id, with_for_update=True)
        if row is None:
            raise NotFound(incident_id)
        if not _may_review(role, unit_code, row):
            raise Forbidden(f"{unit_code} does not review incidents in {row.county_code}")
        if row.status != "held":
            raise Conflict(f"incident {incident_id} is {row.status}, not held for review")
        detection = row.channel == "detection"
        row.status, row.reviewed_by, row.reviewed_at, row.report = "rejected", reviewer, utcnow(), None
        row.reason = f"人工核实驳回: {reason}"[:500]
        await uow.commit()
    if detection:
        metrics.DETECTIONS.labels("rejected").inc()
    return row
