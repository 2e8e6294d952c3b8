"""The review queue (待核实): held incidents (doubtful detections, points outside the city) a person approves
for dispatch or rejects, with the reason."""

from __future__ import annotations

from services.intake.adapters.orm import Incident
from services.intake.adapters.uow import IntakeUnitOfWork
from services.intake.domain.normalise import (
    accept,
)
from services.intake.service.handlers.common import (
    MAX_QUEUE,
    count_accepted,
)
from shared import metrics
from shared.errors import Conflict, NotFound
from shared.events.catalog import INCIDENT_ACCEPTED
from shared.events.envelope import utcnow
from shared.events.v1 import (
    IncidentReported,
    LocatedBy,
)
from shared.scope import Scope


async def list_incidents(uow: IntakeUnitOfWork, *, status: str, scope: Scope, limit: int = MAX_QUEUE) -> list[Incident]:
    """Held (or rejected) incidents in the caller's scope, oldest first."""
    async with uow:
        return await uow.incidents.with_status(status, scope=scope, limit=limit)


async def _held(uow: IntakeUnitOfWork, incident_id: str, scope: Scope) -> Incident:
    # Outside the scope an incident answers as one that does not exist (404): no existence oracle.
    row = await uow.incidents.get(incident_id, for_update=True)
    if row is None or not scope.covers(county_code=row.county_code, town_code=row.town_code):
        raise NotFound(f"事件 {incident_id} 不存在")
    return row


async def approve_held(uow: IntakeUnitOfWork, *, incident_id: str, scope: Scope, reviewer: str) -> Incident:
    """A person confirmed the detection: accept it and publish it for dispatch."""
    async with uow:
        row = await _held(uow, incident_id, scope)
        if row.status != "held" or row.report is None:
            raise Conflict(f"事件 {incident_id} 的状态是 {row.status}，不在待审核队列中")
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


async def reject_held(uow: IntakeUnitOfWork, *, incident_id: str, scope: Scope, reviewer: str,
                      reason: str) -> Incident:
    """A person found the report false or not the city's: it is never dispatched; the reason stays on record."""
    async with uow:
        row = await _held(uow, incident_id, scope)
        if row.status != "held":
            raise Conflict(f"事件 {incident_id} 的状态是 {row.status}，不在待审核队列中")
        detection = row.channel == "detection"
        row.status, row.reviewed_by, row.reviewed_at, row.report = "rejected", reviewer, utcnow(), None
        row.reason = f"人工核实驳回: {reason}"[:500]
        await uow.commit()
    if detection:
        metrics.DETECTIONS.labels("rejected").inc()
    return row
