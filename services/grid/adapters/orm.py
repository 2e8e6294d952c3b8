"""Grid's tables: events reported by grid workers through the grid apps."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field

from shared.models import UTCDateTime, service_base

GridTable, metadata = service_base("grid")


class GridEventBase(GridTable):  # type: ignore[misc,valid-type]
    category_code: str = Field(max_length=32)
    description: str
    lon: float
    lat: float
    grid_code: str | None = Field(default=None, max_length=20, index=True)
    village_code: str | None = Field(default=None, max_length=16)
    town_code: str | None = Field(default=None, max_length=16, index=True)
    county_code: str | None = Field(default=None, max_length=16)
    state: str = Field(max_length=24, description="reported | resolved_on_spot | escalated | dispatched | closed")
    reporter_id: str = Field(max_length=64)


class GridEvent(GridEventBase, table=True):
    __tablename__ = "grid_event"

    id: str = Field(primary_key=True, max_length=64)
    incident_id: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
