"""Intake HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException

from services.intake.adapters.orm import IncidentBase
from services.intake.service import handlers
from shared.deps import UowDep

router = APIRouter(prefix="/api/v1", tags=["incidents"])


class IncidentPublic(IncidentBase):
    id: str
    reported_at: datetime
    accepted_at: datetime


@router.get("/incidents/{incident_id}", response_model=IncidentPublic, summary="an incident and where it was located")
async def read_incident(incident_id: str, uow: UowDep) -> Any:
    incident = await handlers.get_incident(uow, incident_id=incident_id)
    if incident is None:
        raise HTTPException(404, detail=f"no incident {incident_id}")
    return incident
