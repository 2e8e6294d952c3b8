"""Intake's tables: every incident that came through the door, with where it was located."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field

from shared.models import UTCDateTime, service_base

IntakeTable, metadata = service_base("intake")


class IncidentBase(IntakeTable):  # type: ignore[misc,valid-type]
    channel: str = Field(max_length=16, index=True)
    source_ref: str = Field(max_length=64)
    appeal_type: str = Field(max_length=16)
    category_code: str = Field(max_length=32)
    urgency: str = Field(max_length=16)
    status: str = Field(max_length=16, description="accepted | held (review queue)")
    located_by: str = Field(max_length=16)
    grid_code: str | None = Field(default=None, max_length=20)
    village_code: str | None = Field(default=None, max_length=16)
    town_code: str | None = Field(default=None, max_length=16, index=True)
    county_code: str | None = Field(default=None, max_length=16)


class Incident(IncidentBase, table=True):
    __tablename__ = "incident"

    id: str = Field(primary_key=True, max_length=64, description="the incident id from the channel")
    reported_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    accepted_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
