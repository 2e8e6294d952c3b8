"""Intake HTTP API: incidents, the machine-detection channel and the review queue (待核实)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.intake.domain.visibility import incident_scope
from services.intake.service import handlers
from services.intake.service.read_models import IncidentBase
from shared import apikeys, idempotency
from shared.auth import (
    CurrentPrincipal,
    Principal,
    require_roles,
)
from shared.deps import RuntimeDep, UowDep
from shared.events.v1 import Coordinates
from shared.roles import Role
from shared.scope import Scope

router = APIRouter(prefix="/api/v1")
REVIEWERS = require_roles(Role.CITY, Role.COUNTY, Role.ADMIN)


class IncidentPublic(IncidentBase):
    id: str
    reported_at: datetime
    accepted_at: datetime
    reviewed_at: datetime | None = None


def _scope(principal: Principal) -> Scope:
    return incident_scope(principal.role, principal.unit_code, principal.unit_kind)


def _field_error(code: int, field: str, where: str, message: str, kind: str) -> HTTPException:
    return HTTPException(code, detail=[{"field": field, "in": where, "message": message, "type": kind}])


@router.get("/incidents/{incident_id}", response_model=IncidentPublic, tags=["incidents"],
            summary="an incident and where it was located")
async def read_incident(incident_id: str, uow: UowDep, principal: CurrentPrincipal) -> Any:
    return await handlers.get_incident(uow, incident_id=incident_id, scope=_scope(principal))


@router.get("/incidents", response_model=list[IncidentPublic], tags=["review"],
            summary="held (待核实) or rejected incidents this dispatcher may see, oldest first")
async def list_incidents(uow: UowDep, principal: Annotated[Principal, REVIEWERS],
                         status_: Annotated[str, Query(alias="status", pattern="^(held|rejected)$")] = "held",
                         limit: Annotated[int, Query(ge=1, le=handlers.MAX_QUEUE)] = 100) -> Any:
    return await handlers.list_incidents(uow, status=status_, scope=_scope(principal), limit=limit)


class RejectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=400, description="why the detection is false (误报原因)")


@router.post("/incidents/{incident_id}/approve", response_model=IncidentPublic, tags=["review"],
             summary="confirm a held detection: accepted and published for dispatch")
async def approve(incident_id: str, uow: UowDep, principal: Annotated[Principal, REVIEWERS]) -> Any:
    return await handlers.approve_held(uow, incident_id=incident_id, scope=_scope(principal),
                                       reviewer=principal.subject)


@router.post("/incidents/{incident_id}/reject", response_model=IncidentPublic, tags=["review"],
             summary="refuse a held detection (误报): never dispatched, the reason is kept")
async def reject(incident_id: str, body: RejectBody, uow: UowDep,
                 principal: Annotated[Principal, REVIEWERS]) -> Any:
    return await handlers.reject_held(uow, incident_id=incident_id, scope=_scope(principal),
                                      reviewer=principal.subject, reason=body.reason)


# --- machine detections -------------------------------------------------------------------------------------


class DetectionIn(BaseModel):
    """One detection from a remote-sensing pipeline or a sensor."""

    model_config = ConfigDict(extra="forbid")

    detection_id: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$",
                                     description="the detector's own id; the same id is the same incident")
    source: str | None = Field(None, min_length=1, max_length=50, description="kind of source: 遥感, 传感器 ...")
    detector: str = Field(min_length=1, max_length=100, description="which model or device saw it")
    confidence: float = Field(ge=0, le=1, strict=True)
    evidence_url: str = Field(min_length=8, max_length=2000, pattern=r"^https?://\S+$")
    category_code: str = Field(pattern=r"^\d{2,6}$")
    coordinates: Coordinates | None = None
    grid_code: str | None = Field(None, min_length=1, max_length=20, pattern=r"^\d+$")
    description: str | None = Field(None, max_length=2000)
    detected_at: AwareDatetime | None = None


# The integration calling, from `X-Api-Key` (shared.apikeys.admit_key): 401 when missing, invalid or revoked;
# 429 past its rate limit (a wrong key counts against the client address's failed authentications).
IntegrationKey = apikeys.header_key(
    handlers.API_KEYS,
    missing=lambda: _field_error(401, "X-Api-Key", "header", "an integration API key is required", "missing"),
    invalid=lambda: _field_error(401, "X-Api-Key", "header", "invalid or revoked API key", "invalid"))


@router.post("/detections", status_code=status.HTTP_202_ACCEPTED, tags=["detections"],
             summary="report a machine detection (remote sensing, sensors)")
async def create_detection(body: DetectionIn, request: Request, runtime: RuntimeDep,
                           key: IntegrationKey,
                           idempotency_key: Annotated[str, Header(alias="Idempotency-Key", min_length=1,
                                                                  max_length=200, pattern=r"^[\x21-\x7e]+$")],
                           ) -> Any:
    detection = handlers.SubmitDetection(**body.model_dump(exclude={"coordinates"}), coordinates=body.coordinates)
    # Refusals (422 by field, 403 out of the key's scope, 503 until grid's registry is here, a reused key)
    # are raised by the use case and answered by the app's one error handler.
    stored = await handlers.submit_detection(
        new_uow=runtime.uow, detection=detection, key=key, idempotency_key=idempotency_key,
        fingerprint=idempotency.fingerprint(body.model_dump(mode="json")), reference=request.app.state.reference)
    headers = {"Idempotent-Replayed": "true"} if stored.replayed else None
    return JSONResponse(stored.body, status_code=stored.status_code, headers=headers)
