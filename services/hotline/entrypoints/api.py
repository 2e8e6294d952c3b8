"""Hotline HTTP API for 12345 operators."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field, field_validator

from services.hotline.domain.privacy import normalise_phone
from services.hotline.service import handlers
from shared.deps import UowDep
from shared.events.v1 import AppealType, Coordinates, Urgency

router = APIRouter(prefix="/api/v1", tags=["appeals"])


class AppealCreate(BaseModel):
    caller_phone: str | None = Field(None, max_length=30, description="来电号码")
    caller_name: str | None = Field(None, max_length=50)
    appeal_type: AppealType
    category_code: str = Field(min_length=1, max_length=32)
    description: str = Field(min_length=1, max_length=10_000)
    address: str | None = Field(None, max_length=500)
    coordinates: Coordinates | None = None
    urgency: Urgency | None = None
    confidential: bool = False
    anonymous: bool = False

    @field_validator("caller_phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return normalise_phone(value) if value else None


class AppealPublic(BaseModel):
    id: str
    number: str
    incident_id: str
    disposition: str
    status: str
    order_id: str | None
    order_number: str | None
    appeal_type: str
    category_code: str
    created_at: datetime


@router.post("/appeals", response_model=AppealPublic, status_code=201, summary="create an appeal from a call")
async def create_appeal(body: AppealCreate, uow: UowDep) -> Any:
    return await handlers.create_appeal(
        uow=uow, operator=None, phone=body.caller_phone, name=body.caller_name, appeal_type=body.appeal_type,
        category_code=body.category_code, description=body.description, address=body.address,
        coordinates=body.coordinates, urgency=body.urgency, confidential=body.confidential,
        anonymous=body.anonymous)


@router.get("/appeals/{appeal_id}", response_model=AppealPublic, summary="an appeal and its order's state")
async def read_appeal(appeal_id: str, uow: UowDep) -> Any:
    appeal = await handlers.get_appeal(uow, appeal_id=appeal_id)
    if appeal is None:
        raise HTTPException(404, detail=f"no appeal {appeal_id}")
    return appeal
