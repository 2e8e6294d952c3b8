"""Hotline's tables. The caller's full phone number lives only here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field

from shared.models import UTCDateTime, service_base

HotlineTable, metadata = service_base("hotline")


class AppealBase(HotlineTable):  # type: ignore[misc,valid-type]
    appeal_type: str = Field(max_length=16)
    category_code: str = Field(max_length=32)
    description: str
    address: str | None = Field(default=None, max_length=500)
    lon: float | None = None
    lat: float | None = None
    urgency: str | None = Field(default=None, max_length=16)
    confidential: bool = False
    anonymous: bool = False


class Appeal(AppealBase, table=True):
    __tablename__ = "appeal"

    id: str = Field(primary_key=True, max_length=64)
    number: str = Field(max_length=32, unique=True, description="受理编号")
    incident_id: str = Field(max_length=64, unique=True)
    caller_phone: str | None = Field(default=None, max_length=20, index=True)
    caller_name: str | None = Field(default=None, max_length=50)
    disposition: str = Field(max_length=24)
    status: str = Field(max_length=24, description="the order's state as last heard from dispatch")
    order_id: str | None = Field(default=None, max_length=64, index=True)
    order_number: str | None = Field(default=None, max_length=32)
    operator: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
